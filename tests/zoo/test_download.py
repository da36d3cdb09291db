"""The downloader against a local HTTP server: resume, checksums, mirrors, offline mode, locking."""

from __future__ import annotations

import multiprocessing
import os

import mxnet as mx
import numpy as np
import pytest

from gluon_onnx import zoo
from gluon_onnx.errors import ChecksumError, DownloadError, ModelUnavailableError
from gluon_onnx.samples import tiny_cnn
from gluon_onnx.zoo.catalogue import FileRecord
from gluon_onnx.zoo.download import download, sha256_file
from tests.zoo.conftest import hub_entry, sha256


def payload(size: int = 300_000, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def record(data: bytes, urls: list[str], name: str = "blob.bin") -> FileRecord:
    return FileRecord(name, sha256(data), len(data), tuple(urls))


def leftovers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith((".part", ".tmp")))


def test_normal_download_is_verified_and_stamped(file_server, tmp_path):
    data = payload()
    url = file_server.add("/ok/blob.bin", data)
    dest = tmp_path / "cache" / "blob.bin"
    path = download(record(data, [url]), dest, progress=False)
    assert path == dest and dest.read_bytes() == data
    assert (tmp_path / "cache" / "blob.bin.sha256").read_text().split()[0] == sha256(data)
    # a second call uses the verified file: no new request
    download(record(data, [url]), dest, progress=False)
    assert file_server.hits["/ok/blob.bin"] == 1
    assert leftovers(dest.parent) == []


def test_plain_progress_without_tqdm(file_server, tmp_path, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError("tqdm hidden by the test")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    data = payload(60_000)
    url = file_server.add("/ok/p.bin", data)
    download(record(data, [url], "p.bin"), tmp_path / "p.bin", progress=True, what="p.bin")
    assert "p.bin: 0.1/0.1 MB (100%)" in capsys.readouterr().err


def test_resume_after_dropped_connection(file_server, tmp_path):
    data = payload(400_000, seed=1)
    url = file_server.add("/drop/blob.bin", data, behaviour="drop-once")
    dest = tmp_path / "blob.bin"
    download(record(data, [url]), dest, progress=False)
    assert dest.read_bytes() == data
    requests = [r for p, r in file_server.ranges if p == "/drop/blob.bin"]
    assert requests[0] is None
    # the second request resumed where the first stopped
    assert len(requests) == 2 and requests[1] == f"bytes={len(data) // 2}-"
    assert leftovers(tmp_path) == []


def test_restart_when_server_ignores_range(file_server, tmp_path):
    data = payload(200_000, seed=2)
    url = file_server.add("/norange/blob.bin", data, behaviour="norange")
    dest = tmp_path / "blob.bin"
    (tmp_path / "blob.bin.part").write_bytes(data[:1000])  # an interrupted earlier attempt
    download(record(data, [url]), dest, progress=False)
    assert dest.read_bytes() == data
    assert file_server.ranges[0] == ("/norange/blob.bin", "bytes=1000-")


def test_stale_part_with_other_bytes_restarts_cleanly(file_server, tmp_path):
    data = payload(100_000, seed=3)
    url = file_server.add("/ok/blob.bin", data)
    dest = tmp_path / "blob.bin"
    (tmp_path / "blob.bin.part").write_bytes(b"\x00" * 5000)  # not a prefix of the file
    download(record(data, [url]), dest, progress=False)
    assert dest.read_bytes() == data
    assert leftovers(tmp_path) == []


def test_wrong_bytes_raise_checksum_error_and_leave_nothing(file_server, tmp_path):
    data = payload(100_000, seed=4)
    url = file_server.add("/wrong/blob.bin", data, behaviour="wrong")
    dest = tmp_path / "blob.bin"
    with pytest.raises(ChecksumError, match="sha256"):
        download(record(data, [url]), dest, progress=False)
    assert not dest.exists()
    assert leftovers(tmp_path) == []


def test_wrong_mirror_falls_through_to_a_good_one(file_server, tmp_path):
    data = payload(50_000, seed=5)
    bad = file_server.add("/wrong/b.bin", data, behaviour="wrong")
    good = file_server.add("/ok/b.bin", data)
    dest = tmp_path / "b.bin"
    download(record(data, [bad, good]), dest, progress=False)
    assert dest.read_bytes() == data


def test_mirror_fall_through_after_404(file_server, tmp_path):
    data = payload(60_000, seed=6)
    missing = file_server.base + "/missing/blob.bin"
    good = file_server.add("/ok/blob.bin", data)
    dest = tmp_path / "blob.bin"
    download(record(data, [missing, good]), dest, progress=False)
    assert dest.read_bytes() == data
    assert file_server.hits["/missing/blob.bin"] == 1 and file_server.hits["/ok/blob.bin"] == 1


def test_every_mirror_failing_raises_download_error(file_server, tmp_path):
    data = payload(1000)
    urls = [file_server.base + "/missing/a", file_server.base + "/missing/b"]
    with pytest.raises(DownloadError, match="every mirror failed") as info:
        download(record(data, urls), tmp_path / "x.bin", progress=False)
    assert "/missing/a" in str(info.value) and "/missing/b" in str(info.value)
    assert not (tmp_path / "x.bin").exists()


def test_corrupted_cached_file_is_removed_and_downloaded_again(file_server, tmp_path):
    data = payload(30_000, seed=7)
    url = file_server.add("/ok/c.bin", data)
    dest = tmp_path / "c.bin"
    download(record(data, [url], "c.bin"), dest, progress=False)
    dest.write_bytes(b"\x01" * len(data))  # someone overwrote the cached file
    download(record(data, [url], "c.bin"), dest, progress=False)
    assert dest.read_bytes() == data and file_server.hits["/ok/c.bin"] == 2


def test_offline_mode_says_which_file_to_place_where(custom_catalogue, zoo_root, monkeypatch):
    data = tiny_cnn().SerializeToString()
    custom_catalogue([hub_entry("served-net", data, ["http://127.0.0.1:9/a.onnx", "http://127.0.0.1:9/b.onnx"])])
    monkeypatch.setenv("GLUON_ONNX_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError) as info:
        zoo.fetch("served-net", root=zoo_root)
    message = str(info.value)
    expected = zoo_root / "hub" / "served-net" / "served-net.onnx"
    assert str(expected) in message and sha256(data) in message and str(len(data)) in message
    assert "register_local('served-net', PATH)" in message and "http://127.0.0.1:9/a.onnx" in message
    # placing the file there makes it usable offline
    expected.parent.mkdir(parents=True)
    expected.write_bytes(data)
    assert zoo.fetch("served-net", root=zoo_root) == expected


def test_get_model_downloads_verifies_and_imports(file_server, custom_catalogue, zoo_root):
    model = tiny_cnn()
    data = model.SerializeToString()
    url = file_server.add("/ok/net.onnx", data)
    custom_catalogue([hub_entry("served-net", data, [file_server.base + "/missing/net.onnx", url])])
    net = zoo.get_model("served-net", ctx=mx.cpu(), root=zoo_root, progress=False)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    logits, _ = net(mx.nd.array(x))
    assert logits.shape == (2, 10)


def test_checksum_mismatch_never_yields_a_model(file_server, custom_catalogue, zoo_root):
    data = tiny_cnn().SerializeToString()
    urls = [file_server.add(f"/wrong/net{i}.onnx", data, behaviour="wrong") for i in range(2)]
    custom_catalogue([hub_entry("served-net", data, urls)])
    with pytest.raises(ChecksumError):
        zoo.get_model("served-net", root=zoo_root, progress=False)
    assert not any(p.suffix == ".onnx" for p in zoo_root.rglob("*"))


def test_register_local_checks_sha256(custom_catalogue, zoo_root, tmp_path):
    data = tiny_cnn().SerializeToString()
    custom_catalogue([hub_entry("served-net", data, ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"])])
    good = tmp_path / "mine.onnx"
    good.write_bytes(data)
    bad = tmp_path / "other.onnx"
    bad.write_bytes(data[:-1] + b"\x00")
    with pytest.raises(ChecksumError, match="not registered"):
        zoo.register_local("served-net", bad, root=zoo_root)
    assert zoo.register_local("served-net", good, root=zoo_root) == good.resolve()
    assert zoo.fetch("served-net", root=zoo_root, offline=True) == good.resolve()
    good.write_bytes(data[:-1] + b"\x00")  # changed after registration
    with pytest.raises(ChecksumError, match="register it again"):
        zoo.fetch("served-net", root=zoo_root, offline=True)


def test_default_root_follows_gluon_onnx_home(monkeypatch, tmp_path):
    monkeypatch.setenv("GLUON_ONNX_HOME", str(tmp_path / "h"))
    assert zoo.default_root() == tmp_path / "h" / "models"


def _fetch_in_process(url: str, sha: str, size: int, dest: str, queue: object) -> None:
    try:
        path = download(FileRecord("shared.bin", sha, size, (url,)), dest, progress=False)
        queue.put(("ok", str(path), sha256_file(path)))
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        queue.put(("error", repr(exc), ""))


def test_concurrent_fetches_from_two_processes_leave_one_good_file(file_server, tmp_path):
    data = payload(2_000_000, seed=8)
    url = file_server.add("/slow/shared.bin", data, behaviour="slow")
    dest = tmp_path / "cache" / "shared.bin"
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_fetch_in_process, args=(url, sha256(data), len(data), str(dest), queue))
               for _ in range(2)]
    for w in workers:
        w.start()
    results = [queue.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    assert [r[0] for r in results] == ["ok", "ok"], results
    assert {r[1] for r in results} == {str(dest)} and {r[2] for r in results} == {sha256(data)}
    assert dest.read_bytes() == data
    # the lock made the second process wait and reuse the first one's file
    assert file_server.hits["/slow/shared.bin"] == 1
    assert leftovers(dest.parent) == []
    assert os.listdir(dest.parent) and all(not n.endswith(".part") for n in os.listdir(dest.parent))
