"""External tensor data: only regular files inside the model's directory, only inside the file.

Every case uses real files (and symlinks) on disk. Models over 2 GiB are simulated with sparse
files, which take no disk space.
"""

from __future__ import annotations

import os
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import gluon_onnx
from gluon_onnx import errors, limits
from gluon_onnx.model import read_model, tensor_to_array

pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

WEIGHTS = np.arange(6, dtype=np.float32).reshape(2, 3)


def external_tensor(location: str, offset: object = None, length: object = None, *, values=WEIGHTS,
                    name: str = "w") -> TensorProto:
    tensor = numpy_helper.from_array(values, name)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    entries = {"location": location}
    if offset is not None:
        entries["offset"] = str(offset)
    if length is not None:
        entries["length"] = str(length)
    for key, value in entries.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def write_model(folder: Path, tensor: TensorProto, name: str = "model.onnx") -> Path:
    graph = helper.make_graph([helper.make_node("Add", ["x", tensor.name], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(tensor.dims))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(tensor.dims))], [tensor])
    path = folder / name
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString())
    return path


@pytest.fixture()
def layout(tmp_path: Path) -> dict[str, Path]:
    """model/ (with weights.bin and links) next to a secret file outside it."""
    model_dir = tmp_path / "model"
    (model_dir / "sub").mkdir(parents=True)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(WEIGHTS.tobytes())
    (model_dir / "weights.bin").write_bytes(b"\0" * 8 + WEIGHTS.tobytes())
    (model_dir / "sub" / "inner.bin").write_bytes(WEIGHTS.tobytes())
    os.symlink(secret, model_dir / "link_out.bin")
    os.symlink(tmp_path, model_dir / "dir_out")
    os.symlink(model_dir / "weights.bin", model_dir / "link_in.bin")
    return {"model": model_dir, "secret": secret}


def _load(path: Path) -> np.ndarray:
    net = gluon_onnx.load_block(path)
    return net(mx.nd.zeros(WEIGHTS.shape)).asnumpy()


@pytest.mark.parametrize("location, message", [
    ("../secret.bin", "outside the model directory"),
    ("sub/../../secret.bin", "outside the model directory"),
    ("link_out.bin", "outside the model directory"),         # a symlink that leaves the directory
    ("dir_out/secret.bin", "outside the model directory"),   # a symlinked directory that leaves it
    ("SECRET_ABSOLUTE", "absolute path"),
    ("missing.bin", "does not exist"),
    (".", "does not exist"),                                 # the directory itself
    ("sub", "does not exist"),
    ("weights\0.bin", "location"),                           # NUL byte
])
def test_locations_outside_or_invalid_are_refused(layout, location, message):
    if location == "SECRET_ABSOLUTE":
        location = str(layout["secret"])
    path = write_model(layout["model"], external_tensor(location, 0, WEIGHTS.nbytes))
    with pytest.raises(errors.ExternalDataError, match=message) as info:
        gluon_onnx.load_block(path)
    assert "'w'" in str(info.value)


def test_fifo_is_not_read(layout):
    os.mkfifo(layout["model"] / "pipe.bin")
    path = write_model(layout["model"], external_tensor("pipe.bin", 0, WEIGHTS.nbytes))
    with pytest.raises(errors.ExternalDataError, match="does not exist or is not a regular file"):
        gluon_onnx.load_block(path)


@pytest.mark.parametrize("offset, length, message", [
    (8, WEIGHTS.nbytes + 1, "past the end"),
    (9, WEIGHTS.nbytes, "past the end"),
    (2**62, 4, "past the end"),
    (-8, WEIGHTS.nbytes, "past the end"),
    (8, -1, "past the end"),
    ("8.5", WEIGHTS.nbytes, "not integers"),
    ("eight", None, "not integers"),
    (8, 4, "needs 24 bytes"),
])
def test_ranges_outside_the_file_are_refused(layout, offset, length, message):
    path = write_model(layout["model"], external_tensor("weights.bin", offset, length))
    with pytest.raises(errors.ExternalDataError, match=message):
        gluon_onnx.load_block(path)


def test_inside_the_directory_loads(layout):
    for location, offset in (("weights.bin", 8), ("link_in.bin", 8), ("sub/inner.bin", 0), ("sub/../weights.bin", 8)):
        path = write_model(layout["model"], external_tensor(location, offset, WEIGHTS.nbytes))
        np.testing.assert_array_equal(_load(path), WEIGHTS)


def test_bytes_source_reads_from_base_dir(layout):
    path = write_model(layout["model"], external_tensor("weights.bin", 8, WEIGHTS.nbytes))
    net = gluon_onnx.load_block(path.read_bytes(), base_dir=str(layout["model"]))
    np.testing.assert_array_equal(net(mx.nd.zeros(WEIGHTS.shape)).asnumpy(), WEIGHTS)
    with pytest.raises(errors.ExternalDataError, match="outside"):
        gluon_onnx.load_block(write_model(layout["model"], external_tensor("../secret.bin", 0)).read_bytes(),
                              base_dir=str(layout["model"]))


def test_data_beyond_2gib_is_memory_mapped(tmp_path):
    """A > 2 GiB external data file (sparse: no disk space) read at an offset past 2**31."""
    offset = 2**31 + 4096
    data = tmp_path / "huge.bin"
    with open(data, "wb") as handle:
        handle.truncate(offset + WEIGHTS.nbytes + 4096)
        handle.seek(offset)
        handle.write(WEIGHTS.tobytes())
    tensor = external_tensor("huge.bin", offset, WEIGHTS.nbytes)
    value = tensor_to_array(tensor, str(tmp_path))
    assert isinstance(value, np.memmap)
    np.testing.assert_array_equal(value, WEIGHTS)
    np.testing.assert_array_equal(_load(write_model(tmp_path, tensor)), WEIGHTS)


def test_model_file_over_the_protobuf_limit_is_refused_without_reading(tmp_path, monkeypatch):
    path = tmp_path / "huge.onnx"
    with open(path, "wb") as handle:  # sparse: 2 GiB + 1 byte of nothing
        handle.truncate(limits.MAX_PROTO_BYTES + 1)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("the file was read"))
    with pytest.raises(errors.InvalidModelError, match="cannot exceed 2 GiB"):
        read_model(path)


def test_unreadable_model_file(tmp_path, monkeypatch):
    path = write_model(tmp_path, numpy_helper.from_array(WEIGHTS, "w"))

    real_open = open

    def refuse(file, *args, **kwargs):  # what a file without read permission does (even tests run as root)
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", refuse)
    with pytest.raises(errors.InvalidModelError, match="cannot be read: Permission denied"):
        gluon_onnx.load_block(path)


_LOCATIONS = st.one_of(
    st.sampled_from(["weights.bin", "../secret.bin", "link_out.bin", "dir_out/secret.bin", "link_in.bin",
                     "/etc/hostname", "sub/../../secret.bin", "sub/inner.bin", "", ".", "..", "sub", "//weights.bin",
                     "./weights.bin", "weights.bin/", "C:\\secret.bin", "\\\\server\\share\\x.bin", "~/secret.bin"]),
    st.text(min_size=0, max_size=30))
_NUMBERS = st.one_of(st.none(), st.integers(-2**64, 2**64), st.text(max_size=8))


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(location=_LOCATIONS, offset=_NUMBERS, length=_NUMBERS)
def test_fuzzed_external_data_reads_only_inside_the_directory(layout, location, offset, length):
    """Any location/offset/length: an ExternalDataError, or values read from inside model/."""
    tensor = external_tensor(location, offset, length)
    try:
        value = tensor_to_array(tensor, str(layout["model"]))
    except errors.ExternalDataError:
        return
    target = (layout["model"] / location).resolve()
    assert layout["model"].resolve() in target.parents, f"read {target} from outside the model directory"
    assert value.shape == WEIGHTS.shape


# --- export writes atomically -----------------------------------------------------------------------------
def _export_block():
    export_block = getattr(gluon_onnx, "export_block", None)
    if export_block is None:
        pytest.skip("gluon_onnx.export_block is not on this branch yet (the exporter is developed on 'export')")
    return export_block


def _dense():
    net = mx.gluon.nn.HybridSequential()
    net.add(mx.gluon.nn.Dense(3, in_units=4))
    net.initialize(mx.init.Xavier())
    return net


class _Failing(mx.gluon.HybridBlock):
    def hybrid_forward(self, F, x):
        raise RuntimeError("injected failure while tracing")


def test_failed_export_leaves_no_file(tmp_path, monkeypatch):
    export_block = _export_block()
    target = tmp_path / "out.onnx"
    target.write_bytes(b"previous model")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(Exception):  # noqa: B017 - any failure; what matters is the disk
        export_block(_Failing(), [(2, 4)], target)
    assert target.read_bytes() == b"previous model"
    assert sorted(p.name for p in tmp_path.iterdir()) == before

    # a failure after the model was serialized: the onnxruntime check of check=True
    import onnxruntime  # noqa: PLC0415

    def broken_session(*args, **kwargs):
        raise RuntimeError("injected onnxruntime failure")

    monkeypatch.setattr(onnxruntime, "InferenceSession", broken_session)
    fresh = tmp_path / "fresh.onnx"
    with pytest.raises(Exception):  # noqa: B017
        export_block(_dense(), [(2, 4)], fresh, check=True)
    assert not fresh.exists()
    with pytest.raises(Exception):  # noqa: B017
        export_block(_dense(), [(2, 4)], target, check=True, external_data=True)
    assert target.read_bytes() == b"previous model"
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_export_then_import_round_trip(tmp_path):
    export_block = _export_block()
    net = _dense()
    x = mx.nd.random.uniform(shape=(2, 4))
    target = tmp_path / "dense.onnx"
    export_block(net, [x], target)
    np.testing.assert_allclose(gluon_onnx.load_block(target)(x).asnumpy(), net(x).asnumpy(), rtol=1e-5, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dense.onnx"]
