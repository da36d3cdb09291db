"""Safe extraction of zoo archives (``.tar.gz`` bundles of a model and its test data).

Every member is checked before anything is written (PEP 706 ``data`` filter semantics, plus
stricter rules): no absolute path, no ``..`` component, no member below a symbolic link, no
symbolic or hard link whose target leaves the target directory, no device, FIFO or other
special file, and a bound on the total size. One bad member refuses the whole archive with
:class:`~gluon_onnx.errors.UnsafeArchiveError`. Extraction then uses ``tarfile``'s ``data``
filter where Python has it (3.12, 3.11.4+, and security backports), and a manual writer of
plain files and directories otherwise; permissions never keep setuid/setgid/sticky bits.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tarfile
from pathlib import Path

from ..errors import UnsafeArchiveError

_FILTER_ERRORS = getattr(tarfile, "FilterError", ())

#: Largest total size of the files of one archive (bytes).
MAX_EXTRACTED_BYTES = 8 << 30
#: Largest number of members of one archive.
MAX_MEMBERS = 100_000


def _clean_name(name: str) -> str | None:
    """The member name as a safe relative POSIX path, or None when it is unsafe."""
    if not name or "\x00" in name:
        return None
    name = name.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    return "/".join(parts)


def check_members(tar: tarfile.TarFile, dest: Path, *, max_bytes: int | None = None,
                  max_members: int | None = None) -> list[tuple[tarfile.TarInfo, str]]:
    """Validate every member of ``tar`` for extraction into ``dest``; return (member, clean name).

    Raises
    ------
    UnsafeArchiveError
        Naming the first offending member and why it is refused.
    """
    max_bytes = MAX_EXTRACTED_BYTES if max_bytes is None else max_bytes
    max_members = MAX_MEMBERS if max_members is None else max_members
    checked: list[tuple[tarfile.TarInfo, str]] = []
    links: set[str] = set()
    total = 0
    for count, member in enumerate(tar, start=1):
        if count > max_members:
            raise UnsafeArchiveError(f"more than {max_members} members")
        name = _clean_name(member.name)
        if name is None:
            raise UnsafeArchiveError(f"member {member.name!r}: absolute path or '..' component")
        prefix = name.split("/")
        for i in range(1, len(prefix)):
            if "/".join(prefix[:i]) in links:
                raise UnsafeArchiveError(f"member {member.name!r}: lies below a link of the archive")
        if member.issym():
            target = member.linkname.replace("\\", "/")
            joined = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
            if target.startswith("/") or joined == ".." or joined.startswith("../") or posixpath.isabs(joined):
                raise UnsafeArchiveError(f"member {member.name!r}: symbolic link to {member.linkname!r} "
                                         "points outside the target directory")
            links.add(name)
        elif member.islnk():
            target = _clean_name(member.linkname)
            if target is None:
                raise UnsafeArchiveError(f"member {member.name!r}: hard link to {member.linkname!r} "
                                         "points outside the target directory")
            links.add(name)
        elif member.isdev() or member.isfifo() or not (member.isreg() or member.isdir()):
            raise UnsafeArchiveError(f"member {member.name!r}: device, FIFO or special file (type "
                                     f"{member.type!r}) refused")
        if member.isreg():
            total += member.size
            if total > max_bytes:
                raise UnsafeArchiveError(f"files larger than {max_bytes} bytes in total")
        resolved = (dest / name).resolve()
        if resolved != dest and dest not in resolved.parents:
            raise UnsafeArchiveError(f"member {member.name!r}: resolves outside the target directory")
        checked.append((member, name))
    return checked


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike, *, max_bytes: int | None = None,
                 max_members: int | None = None) -> Path:
    """Extract ``archive`` (any tar compression) into ``dest`` after checking every member.

    Returns
    -------
    Path
        The resolved ``dest``.

    Raises
    ------
    UnsafeArchiveError
        A member is unsafe (nothing is extracted) or the archive is not a readable tar file.
    """
    dest = Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            checked = check_members(tar, dest, max_bytes=max_bytes, max_members=max_members)
            if hasattr(tarfile, "data_filter"):
                tar.extractall(dest, members=[m for m, _ in checked], filter="data")
            else:  # pragma: no cover - Pythons without PEP 706
                _extract_plain(tar, checked, dest)
    except UnsafeArchiveError as exc:
        raise UnsafeArchiveError(f"{os.fspath(archive)}: {exc}") from None
    except _FILTER_ERRORS as exc:
        raise UnsafeArchiveError(f"{os.fspath(archive)}: refused by the tar data filter: {exc}") from None
    except (tarfile.TarError, EOFError) as exc:
        raise UnsafeArchiveError(f"{os.fspath(archive)} is not a readable tar archive: {exc}") from None
    return dest


def _extract_plain(tar: tarfile.TarFile, checked: list[tuple[tarfile.TarInfo, str]], dest: Path) -> None:
    """Write the checked members: directories, regular files, links inside ``dest`` (copied)."""
    for member, name in checked:
        target = dest / name
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if member.isreg():
            source = tar.extractfile(member)
            with source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
            os.chmod(target, 0o755 if member.mode & 0o100 else 0o644)
        elif member.issym():
            os.symlink(member.linkname, target)
        elif member.islnk():
            shutil.copyfile(dest / _clean_name(member.linkname), target)
