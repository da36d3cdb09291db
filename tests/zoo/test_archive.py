"""Safe extraction of zoo bundles: crafted hostile tar.gz archives are refused whole."""

from __future__ import annotations

import io
import tarfile

import pytest

from gluon_onnx.errors import UnsafeArchiveError, ZooError
from gluon_onnx.zoo.archive import safe_extract


def make_tar(path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)


def regular(name: str, data: bytes = b"data") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    return info, data


def special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3
    return info, None


def test_normal_bundle_extracts(tmp_path):
    archive = tmp_path / "bundle.tar.gz"
    make_tar(archive, [
        regular("net/model.onnx", b"onnx-bytes"),
        regular("net/test_data_set_0/input_0.pb", b"in"),
        regular("net/test_data_set_0/output_0.pb", b"out"),
        special("net/alias.onnx", tarfile.SYMTYPE, "model.onnx"),  # a link inside is fine
    ])
    dest = safe_extract(archive, tmp_path / "out")
    assert (dest / "net" / "model.onnx").read_bytes() == b"onnx-bytes"
    assert (dest / "net" / "test_data_set_0" / "output_0.pb").read_bytes() == b"out"
    assert (dest / "net" / "alias.onnx").read_bytes() == b"onnx-bytes"


@pytest.mark.parametrize("hostile, why", [
    (regular("../escape.txt"), "'..'"),
    (regular("net/../../escape.txt"), "'..'"),
    (regular("/tmp/absolute-escape.txt"), "absolute"),
    (special("net/passwd", tarfile.SYMTYPE, "/etc/passwd"), "symbolic link"),
    (special("net/up", tarfile.SYMTYPE, "../../outside"), "symbolic link"),
    (special("net/hard", tarfile.LNKTYPE, "../outside.txt"), "hard link"),
    (special("net/hard-abs", tarfile.LNKTYPE, "/etc/passwd"), "hard link"),
    (special("net/null", tarfile.CHRTYPE), "device"),
    (special("net/disk", tarfile.BLKTYPE), "device"),
    (special("net/pipe", tarfile.FIFOTYPE), "FIFO"),
])
def test_hostile_members_are_refused_and_nothing_is_written(tmp_path, hostile, why):
    archive = tmp_path / "evil.tar.gz"
    make_tar(archive, [regular("net/model.onnx", b"onnx-bytes"), hostile])
    dest = tmp_path / "sandbox" / "out"
    with pytest.raises(UnsafeArchiveError, match=why) as info:
        safe_extract(archive, dest)
    assert isinstance(info.value, ZooError)
    assert hostile[0].name in str(info.value)
    assert list(dest.rglob("*")) == []  # refused whole: not even the good member
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "sandbox" / "escape.txt").exists()


def test_member_below_a_link_is_refused(tmp_path):
    (tmp_path / "victim").mkdir()
    archive = tmp_path / "evil.tar.gz"
    make_tar(archive, [
        special("net/dir", tarfile.SYMTYPE, "."),  # harmless by itself
        regular("net/dir/file.txt", b"x"),  # but nothing may be written through a link
    ])
    with pytest.raises(UnsafeArchiveError, match="below a link"):
        safe_extract(archive, tmp_path / "out")


def test_size_bound(tmp_path):
    archive = tmp_path / "big.tar.gz"
    make_tar(archive, [regular("a.bin", b"\0" * 5000), regular("b.bin", b"\0" * 5000)])
    with pytest.raises(UnsafeArchiveError, match="larger than"):
        safe_extract(archive, tmp_path / "out", max_bytes=8000)


def test_not_a_tar_file(tmp_path):
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_bytes(b"this is not gzip")
    with pytest.raises(UnsafeArchiveError, match="not a readable tar"):
        safe_extract(bogus, tmp_path / "out")


def test_fallback_writer_without_tarfile_filters(tmp_path, monkeypatch):
    """Pythons without PEP 706 filters use the module's own writer, with the same checks."""
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    archive = tmp_path / "bundle.tar.gz"
    setuid = regular("net/tool", b"#!/bin/sh\n")[0]
    setuid.mode = 0o4755
    make_tar(archive, [
        regular("net/model.onnx", b"onnx-bytes"),
        (setuid, b"#!/bin/sh\n"),
        special("net/alias.onnx", tarfile.SYMTYPE, "model.onnx"),
        special("net/copy.onnx", tarfile.LNKTYPE, "net/model.onnx"),
    ])
    dest = safe_extract(archive, tmp_path / "out")
    assert (dest / "net" / "alias.onnx").read_bytes() == b"onnx-bytes"
    assert (dest / "net" / "copy.onnx").read_bytes() == b"onnx-bytes"
    assert (dest / "net" / "tool").stat().st_mode & 0o7777 == 0o755  # setuid dropped
    evil = tmp_path / "evil.tar.gz"
    make_tar(evil, [special("net/up", tarfile.SYMTYPE, "../../outside")])
    with pytest.raises(UnsafeArchiveError):
        safe_extract(evil, tmp_path / "out2")
