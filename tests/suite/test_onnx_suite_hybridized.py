"""The official ONNX backend suite, hybridized mode (hybridize(static_alloc, static_shape))."""

from gluon_onnx.backend import HybridizedBackend

from .onnx_suite import build_suite

globals().update(build_suite(HybridizedBackend, __name__, "hybridized"))
