"""``gluon-onnx export``."""

from __future__ import annotations

import subprocess
import sys

import mxnet as mx
import numpy as np
import onnx
import pytest
from mxnet.gluon.model_zoo import vision

from gluon_onnx.cli import main
from gluon_onnx.verify import run_onnxruntime

from .util import assert_close, randomize


def test_export_zoo_model_by_name(tmp_path, capsys):
    out = tmp_path / "m.onnx"
    code = main(["export", "mobilenet0.25", str(out), "--shape", "1,3,32,32", "--opset", "17", "--dynamic-batch",
                 "--check"])
    assert code == 0
    model = onnx.load(str(out))
    assert model.opset_import[0].version == 17
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    text = capsys.readouterr().out
    assert "opset 17" in text and "checked with onnxruntime" in text


def test_export_gluoncv_model_by_name(tmp_path):
    pytest.importorskip("gluoncv")
    out = tmp_path / "v1b.onnx"
    assert main(["export", "resnet18_v1b", str(out), "--shape", "1,3,32,32"]) == 0
    assert onnx.load(str(out)).graph.output[0].type.tensor_type.shape.dim[1].dim_value == 1000


def test_export_symbol_checkpoint(tmp_path):
    net = vision.resnet18_v1()
    x = mx.nd.array(np.random.RandomState(0).uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32))
    randomize(net, [x])
    net.hybridize()
    net(x)
    net.export(str(tmp_path / "net"), epoch=0)
    out = tmp_path / "ckpt.onnx"
    assert main(["export", str(tmp_path / "net-symbol.json"), str(out), "--shape", "1,3,32,32",
                 "--dynamic-batch", "--input-name", "data", "--output-name", "prob"]) == 0
    model = onnx.load(str(out))
    assert [o.name for o in model.graph.output] == ["prob"]
    batch = np.random.RandomState(1).uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32)
    assert_close(run_onnxruntime(model, {"data": batch}), [net(mx.nd.array(batch)).asnumpy()])
    # the explicit "symbol.json+params" form
    explicit = tmp_path / "explicit.onnx"
    source = f"{tmp_path / 'net-symbol.json'}+{tmp_path / 'net-0000.params'}"
    assert main(["export", source, str(explicit), "--shape", "1,3,32,32"]) == 0
    assert explicit.exists()


def test_errors_exit_with_code_2(tmp_path, capsys):
    assert main(["export", "no_such_model_xyz", str(tmp_path / "x.onnx")]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_subcommand_listed_in_help():
    result = subprocess.run([sys.executable, "-m", "gluon_onnx", "export", "--help"], capture_output=True,
                            text=True)
    assert result.returncode == 0 and "--dynamic-batch" in result.stdout
