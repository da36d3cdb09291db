"""The gluon-onnx command line: demo, info, check."""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

from gluon_onnx.cli import main
from gluon_onnx.samples import tiny_cnn


def test_demo_matches_onnxruntime(capsys):
    assert main(["demo", "--batch", "1", "3"]) == 0
    out = capsys.readouterr().out
    assert "outputs match onnxruntime" in out
    assert "batch 3:" in out and "hybridized" in out


def test_info_lists_opset_io_and_histogram(tmp_path, capsys):
    path = tmp_path / "cnn.onnx"
    onnx.save(tiny_cnn(), path)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "ai.onnx:17" in out
    assert "input  input" in out and "output logits" in out
    assert "Conv" in out and "unsupported: none" in out


def test_info_names_unsupported_operators(tmp_path, capsys):
    node = helper.make_node("Mystery", ["x"], ["y"], domain="com.example")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    assert main(["info", str(path)]) == 0
    assert "unsupported: com.example::Mystery" in capsys.readouterr().out


def test_check_passes_and_reports_errors_per_output(tmp_path, capsys):
    path = tmp_path / "cnn.onnx"
    onnx.save(tiny_cnn(), path)
    assert main(["check", str(path), "--size", "N=2"]) == 0
    out = capsys.readouterr().out
    assert out.count("max_rel=") == 4  # 2 outputs x 2 modes
    assert "result: ok" in out


def test_check_on_garbage_exits_2_with_a_typed_error(tmp_path, capsys):
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"\x08\x99\xff\xff not a model")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "InvalidModelError" in err and "bad.onnx" in err
