"""Helpers shared by the neural-network layer tests (conv, pooling, normalization, attention...)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import mxnet as mx
import numpy as np
import onnx
from onnx import helper

from gluon_onnx import load_block
from gluon_onnx.backend import to_nd, to_numpy
from tests.importer.ops.oracle import make_model, reference_outputs


def value_info(name: str, array_or_dtype: object, shape: Sequence[object] | None = None) -> onnx.ValueInfoProto:
    """ValueInfo for ``name`` from an example array (or a dtype plus a shape with symbolic entries)."""
    if isinstance(array_or_dtype, np.ndarray):
        dtype, shape = array_or_dtype.dtype, array_or_dtype.shape if shape is None else shape
    else:
        dtype = np.dtype(array_or_dtype)
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(dtype), shape)


def single_node_model(op_type: str, feeds: Mapping[str, np.ndarray], outputs: Sequence[tuple[str, object]], *,
                      opset: int = 17, initializers: Mapping[str, np.ndarray] | None = None,
                      batch_free: bool = False, domain: str = "", extra_opsets: Sequence[tuple[str, int]] = (),
                      **attrs: object) -> onnx.ModelProto:
    """One ``op_type`` node over graph inputs ``feeds`` and constant ``initializers`` (in that input order).

    ``outputs`` lists (name, dtype) pairs; output shapes are left to shape inference. With
    ``batch_free`` the first axis of every graph input is declared as the free size 'N'.
    """
    initializers = dict(initializers or {})
    names = list(feeds) + list(initializers)
    node = helper.make_node(op_type, names, [name for name, _ in outputs], domain=domain, **attrs)
    inputs = [value_info(n, a, (("N",) + a.shape[1:]) if batch_free else a.shape) for n, a in feeds.items()]
    outs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(np.dtype(d)), None) for n, d in outputs]
    inits = [onnx.numpy_helper.from_array(a, n) for n, a in initializers.items()]
    model = make_model([node], inputs, outs, inits, opset=opset)
    for domain_name, version in extra_opsets:
        model.opset_import.append(helper.make_opsetid(domain_name, version))
    return model


def run_block(block: object, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    args = [to_nd(feeds[name], mx.cpu()) for name in block.input_names]
    result = block(*args)
    outs = result if isinstance(result, (tuple, list)) else (result,)
    return [to_numpy(o, block.plan.info(n).dtype) for n, o in zip(block.output_names, outs)]


def assert_close(ours: Sequence[np.ndarray], refs: Sequence[np.ndarray], rtol: float, atol: float, what: str) -> None:
    assert len(ours) == len(refs), what
    for index, (got, want) in enumerate(zip(ours, refs)):
        assert got.shape == want.shape, f"{what} output {index}: shape {got.shape} != {want.shape}"
        assert got.dtype == want.dtype, f"{what} output {index}: dtype {got.dtype} != {want.dtype}"
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"{what} output {index}")


def check_dynamic_batch(model: onnx.ModelProto, make_feeds: Callable[[int], dict[str, np.ndarray]], *,
                        batches: Sequence[int] = (1, 3), rtol: float = 1e-5, atol: float = 1e-5,
                        expect_generic: bool = True) -> None:
    """One hybridized block (batch axis free) against the reference for several batch sizes.

    ``expect_generic`` also asserts that the traced graph did not need specializing to the
    concrete input shapes, i.e. that it really handles any batch size.
    """
    block = load_block(model, dynamic_batch=True)
    block.hybridize(static_alloc=True, static_shape=True)
    for batch in batches:
        feeds = make_feeds(batch)
        assert_close(run_block(block, feeds), reference_outputs(model, feeds), rtol, atol, f"batch {batch}")
    if expect_generic:
        assert not block.is_shape_specialized, "the hybridized graph was specialized to the input shapes"
