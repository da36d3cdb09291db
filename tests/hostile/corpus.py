"""Valid models the fuzzer mutates: the bundled samples, a few official ONNX node tests and the
'light' model-zoo graphs shipped in the onnx wheel.

Everything is built locally (no download) and cached per process.
"""

from __future__ import annotations

import functools
import importlib
import warnings
from pathlib import Path

import onnx

from gluon_onnx import samples

#: node-test modules of ``onnx.backend.test.case.node`` whose cases join the corpus: indexing,
#: shape-from-value operators and control flow, where malformed values hurt the most
NODE_TEST_MODULES = (
    "gather", "gatherelements", "gathernd", "scatternd", "scatterelements", "onehot", "expand", "tile",
    "constantofshape", "rangeop", "pad", "resize", "slice", "reshape", "topk", "cumsum", "if_", "loop", "scan",
    "where", "conv", "maxpool", "split", "trilu", "compress", "nonzero", "einsum", "upsample", "maxunpool",
    "lstm", "roialign", "nonmaxsuppression", "reversesequence", "depthtospace", "eyelike", "col2im", "dft",
)

#: the smallest 'light' model-zoo graphs of the onnx wheel (weights replaced by generated constants)
LIGHT_MODELS = ("light_bvlc_alexnet", "light_squeezenet", "light_zfnet512", "light_vgg19")


def _sample_models() -> dict[str, onnx.ModelProto]:
    return {
        "tiny_cnn": samples.tiny_cnn(channels=4, image_size=8),
        "resnet18": samples.resnet(18, image_size=32, width=8, num_classes=10),
        "bert": samples.bert_encoder(layers=1, hidden=32, heads=2, intermediate=64, vocab=100, max_positions=16),
        "lstm": samples.lstm_classifier(vocab=50, embed=8, hidden=8, num_classes=3),
    }


def _node_test_models() -> dict[str, onnx.ModelProto]:
    import onnx.backend.test.case.node as node_cases  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module in NODE_TEST_MODULES:
            # importing a case module runs its exporters, which append to _NodeTestCases
            importlib.import_module(f"onnx.backend.test.case.node.{module}")
    found = {}
    for case in node_cases._NodeTestCases:
        if case.model is not None and case.name not in found:
            found[case.name] = case.model
    return found


def _light_models() -> dict[str, onnx.ModelProto]:
    folder = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
    found = {}
    for name in LIGHT_MODELS:
        path = folder / f"{name}.onnx"
        if path.is_file():
            found[name] = onnx.load_model(str(path))
    return found


@functools.lru_cache(maxsize=None)
def corpus() -> dict[str, bytes]:
    """name -> serialized valid model."""
    models: dict[str, onnx.ModelProto] = {}
    models.update(_sample_models())
    models.update(_node_test_models())
    models.update(_light_models())
    return {name: model.SerializeToString() for name, model in sorted(models.items())}
