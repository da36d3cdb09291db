"""The official ONNX backend suite, imperative mode (mx.nd)."""

from gluon_onnx.backend import GluonOnnxBackend

from .onnx_suite import build_suite

globals().update(build_suite(GluonOnnxBackend, __name__, "imperative"))
