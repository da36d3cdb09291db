"""Reference inputs of zoo entries: a bundle's ``test_data_set``, else realistic seeded data.

Vision models get a real photograph (scikit-learn's bundled ``china.jpg`` / ``flower.jpg``,
decoded with MXNet's OpenCV), resized, cropped and normalized as the entry's ``preprocess``
says; a seeded synthetic picture when scikit-learn is absent. Byte models (Magika) get the
head and tail of a real file, audio models a seeded speech-like signal, text models seeded
token ids, and the rest :func:`gluon_onnx.verify.random_inputs`-style data.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from ..verify import input_specs
from .catalogue import Entry

SAMPLE_IMAGES = ("china.jpg", "flower.jpg")


def load_test_data_set(directory: str | os.PathLike, model: onnx.ModelProto
                       ) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """Inputs (by graph input name) and expected outputs of an ONNX ``test_data_set_N`` folder."""
    directory = Path(directory)
    names = [name for name, _, _ in input_specs(model)]
    feeds: dict[str, np.ndarray] = {}
    for i, path in enumerate(sorted(directory.glob("input_*.pb"), key=lambda p: int(p.stem.split("_")[1]))):
        tensor = onnx.TensorProto()
        tensor.ParseFromString(path.read_bytes())
        name = tensor.name if tensor.name in names else names[i] if i < len(names) else tensor.name
        feeds[name] = numpy_helper.to_array(tensor)
    outputs = []
    for path in sorted(directory.glob("output_*.pb"), key=lambda p: int(p.stem.split("_")[1])):
        tensor = onnx.TensorProto()
        tensor.ParseFromString(path.read_bytes())
        outputs.append(numpy_helper.to_array(tensor))
    return feeds, outputs


def sample_image(index: int = 0, seed: int = 0) -> tuple[np.ndarray, str]:
    """An RGB uint8 photograph (H, W, 3) and where it came from."""
    try:
        import sklearn.datasets  # noqa: PLC0415

        base = Path(sklearn.datasets.__file__).resolve().parent / "images"
        path = base / SAMPLE_IMAGES[index % len(SAMPLE_IMAGES)]
        if path.is_file():
            import mxnet as mx  # noqa: PLC0415

            image = mx.image.imdecode(path.read_bytes(), to_rgb=1).asnumpy()
            return image, f"scikit-learn {path.name}"
    except ImportError:
        pass
    return synthetic_image(seed), "synthetic picture (seeded)"


def synthetic_image(seed: int = 0, size: tuple[int, int] = (427, 640)) -> np.ndarray:
    """A seeded picture with smooth gradients, edges and texture (RGB uint8)."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    image = np.stack([128 + 100 * np.sin(xx / (37 + 11 * c) + yy / (53 - 7 * c) + c) for c in range(3)], axis=-1)
    for _ in range(8):
        y0, x0 = rng.integers(0, h - 40), rng.integers(0, w - 40)
        y1, x1 = y0 + rng.integers(20, h // 3), x0 + rng.integers(20, w // 3)
        image[y0:y1, x0:x1] = rng.integers(0, 256, size=3)
    image += rng.normal(0, 8, size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def _resize_crop(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Scale ``image`` to cover (height, width), then crop the centre."""
    import mxnet as mx  # noqa: PLC0415

    h0, w0 = image.shape[:2]
    scale = max(height / h0, width / w0)
    new_h, new_w = max(height, int(round(h0 * scale))), max(width, int(round(w0 * scale)))
    resized = mx.image.imresize(mx.nd.array(image, dtype=np.uint8), new_w, new_h, interp=2).asnumpy()
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return resized[top:top + height, left:left + width]


def image_tensor(preprocess: Mapping, shape: list, dtype: np.dtype, index: int = 0,
                 seed: int = 0) -> tuple[np.ndarray, str]:
    """A preprocessed image batch for an input of ``shape`` (ints; free sizes already chosen)."""
    layout = preprocess.get("layout", "NCHW")
    if layout == "CHW":
        batch, (channels, height, width) = None, shape
    elif layout == "NHWC":
        batch, height, width, channels = shape
    else:
        batch, channels, height, width = shape
    rgb, origin = sample_image(index, seed)
    pixels = _resize_crop(rgb, height, width).astype(np.float32)
    color = preprocess.get("color", "RGB")
    if color == "BGR":
        pixels = pixels[..., ::-1]
    elif color == "GRAY" or channels == 1:
        pixels = (pixels @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    if np.dtype(preprocess.get("dtype", dtype)).kind in "iu":
        values = pixels
    else:
        mean = np.asarray(preprocess.get("mean", [0.0] * pixels.shape[-1]), np.float32)
        std = np.asarray(preprocess.get("std", [1.0] * pixels.shape[-1]), np.float32)
        values = (pixels * float(preprocess.get("scale", 1.0)) - mean[: pixels.shape[-1]]) / std[: pixels.shape[-1]]
    if layout != "NHWC":
        values = values.transpose(2, 0, 1)
    if batch is not None:
        values = np.broadcast_to(values, (batch,) + values.shape)
    return np.ascontiguousarray(values).astype(dtype), f"{origin} {height}x{width} {color}"


def byte_tensor(shape: list, dtype: np.dtype, preprocess: Mapping) -> tuple[np.ndarray, str]:
    """Head and tail bytes of real files (this package's sources), padded like Magika does."""
    beg = int(preprocess.get("beg_size", shape[-1] // 2))
    end = int(preprocess.get("end_size", shape[-1] - beg))
    pad = int(preprocess.get("padding_token", 256))
    sources = sorted(Path(__file__).resolve().parent.glob("*.py"))
    rows = []
    for i in range(int(np.prod(shape[:-1])) if len(shape) > 1 else 1):
        data = sources[i % len(sources)].read_bytes().strip()
        head = list(data[:beg]) + [pad] * max(0, beg - len(data))
        tail = [pad] * max(0, end - len(data)) + list(data[-end:] if end else [])
        rows.append((head + tail)[: shape[-1]])
    return np.asarray(rows, dtype=dtype).reshape(shape), "head/tail bytes of gluon_onnx sources"


def audio_tensor(shape: list, dtype: np.dtype, seed: int, rate: int = 16000) -> tuple[np.ndarray, str]:
    """A seeded speech-like signal: harmonics with a syllable envelope, plus noise, in [-1, 1]."""
    rng = np.random.default_rng(seed)
    n = shape[-1]
    rows = []
    for _ in range(int(np.prod(shape[:-1])) if len(shape) > 1 else 1):
        t = (np.arange(n) + rng.integers(0, rate)) / rate
        f0 = rng.uniform(100, 220)
        voice = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.28)) / k for k in range(1, 6))
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
        rows.append(0.3 * voice * envelope + 0.02 * rng.standard_normal(n))
    signal = np.clip(np.asarray(rows).reshape(shape), -1, 1)
    return signal.astype(dtype), "synthetic speech-like signal (seeded)"


def _concrete_shape(dims: list, override: list | None, preprocess: Mapping) -> list[int]:
    if override:
        return [int(d) for d in override]
    size = list(preprocess.get("size", []))
    layout = preprocess.get("layout", "NCHW")
    shape = []
    for i, d in enumerate(dims):
        if isinstance(d, int) and d > 0:
            shape.append(d)
            continue
        if preprocess.get("kind") == "image" and len(size) == 2 and len(dims) in (3, 4):
            spatial = {"NCHW": (2, 3), "NHWC": (1, 2), "CHW": (1, 2)}.get(layout, (2, 3))
            if i in spatial:
                shape.append(int(size[spatial.index(i)]))
                continue
        if preprocess.get("kind") == "tokens" and i == 1 and "seq_len" in preprocess:
            shape.append(int(preprocess["seq_len"]))
            continue
        shape.append(1)
    return shape


def reference_inputs(entry: Entry, model: onnx.ModelProto, *, seed: int = 0
                     ) -> tuple[dict[str, np.ndarray], str]:
    """Seeded realistic inputs for every real graph input, and a description of them."""
    preprocess = entry.preprocess
    overrides = entry.sample_inputs
    rng = np.random.default_rng(seed)
    feeds: dict[str, np.ndarray] = {}
    origins: list[str] = []
    image_done = False
    for name, dtype, dims in input_specs(model):
        spec = dict(overrides.get(name, {}))
        kind = spec.get("kind")
        if kind is None:
            main_kind = preprocess.get("kind")
            if main_kind == "image" and not image_done and dtype.kind in "fiu" and len(dims) in (3, 4):
                kind = "image"
            elif main_kind in ("bytes", "audio", "tokens"):
                kind = main_kind
            else:
                kind = "random"
        shape = _concrete_shape(dims, spec.get("shape"), preprocess if kind == preprocess.get("kind") else {})
        if kind == "value":
            value = np.asarray(spec["value"], dtype=dtype)
            if dims and value.ndim != len(dims):
                value = value.reshape([d if isinstance(d, int) and d > 0 else -1 for d in dims])
            feeds[name] = value
            origins.append(f"{name}=given value")
        elif kind == "fill":
            feeds[name] = np.full(shape, spec.get("value", 0), dtype=dtype)
            origins.append(f"{name}=filled")
        elif kind == "image":
            feeds[name], origin = image_tensor(preprocess, shape, dtype, seed=seed)
            image_done = True
            origins.append(origin)
        elif kind == "bytes":
            feeds[name], origin = byte_tensor(shape, dtype, preprocess)
            origins.append(origin)
        elif kind == "audio":
            feeds[name], origin = audio_tensor(shape, dtype, seed, int(preprocess.get("rate", 16000)))
            origins.append(origin)
        elif kind == "tokens" and dtype.kind in "iu":
            high = int(spec.get("vocab_size", preprocess.get("vocab_size", 1000)))
            feeds[name] = rng.integers(1, high, size=shape).astype(dtype)
            origins.append(f"{name}=seeded token ids")
        else:
            feeds[name] = _random(rng, shape, dtype)
            origins.append(f"{name}=seeded random")
    return feeds, "; ".join(dict.fromkeys(origins))


def _random(rng: np.random.Generator, shape: list[int], dtype: np.dtype) -> np.ndarray:
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) > 0.5
    if dtype.kind in "iu":
        return rng.integers(0, 10, size=shape).astype(dtype)
    raise ValueError(f"cannot generate inputs of type {dtype}")
