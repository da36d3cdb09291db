"""ImageDecoder: decode an encoded image (JPEG, PNG, BMP, TIFF, WebP, PNM, JPEG 2000) with Pillow.

The output size depends on the encoded bytes, so the operator is imperative only
(``dynamic_shape=True``): the bytes are decoded on the host and the pixels come back as a
uint8 NDArray of shape [H, W, C].
"""

from __future__ import annotations

import io

import mxnet as mx
import numpy as np

from ..context import NodeContext
from ..registry import converter


@converter("ImageDecoder", since=20, dynamic_shape=True)
def image_decoder(cx: NodeContext, encoded: object, *, pixel_format: str = "RGB") -> object:
    try:
        from PIL import Image  # noqa: PLC0415
    except ImportError:
        raise cx.fail("ImageDecoder needs Pillow (pip install pillow)") from None
    if pixel_format not in ("RGB", "BGR", "Grayscale"):
        raise cx.fail(f"unknown pixel_format {pixel_format!r}")
    data = encoded.asnumpy().astype(np.uint8).tobytes()
    try:
        image = Image.open(io.BytesIO(data))
        if pixel_format == "Grayscale":
            pixels = np.asarray(image.convert("L"))[:, :, np.newaxis]
        else:
            pixels = np.asarray(image.convert("RGB"))
            if pixel_format == "BGR":
                pixels = pixels[:, :, ::-1]
    except (OSError, ValueError) as exc:
        raise cx.fail(f"cannot decode the image: {exc}") from None
    return mx.nd.array(np.ascontiguousarray(pixels), dtype="uint8", ctx=cx.ctx)
