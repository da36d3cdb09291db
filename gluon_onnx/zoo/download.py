"""Downloads of zoo files: mirror fall-through, resume, sha256 before use, atomic rename, locks.

A file is written to ``<dest>.part`` and renamed to ``<dest>`` only after its size and sha256
match the catalogue, so a reader never sees a partial or wrong file. An interrupted download
leaves the ``.part`` file, and the next attempt resumes it with an HTTP ``Range`` request (or
restarts when the server ignores ranges). Two processes fetching the same file serialise on
``<dest>.lock`` (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows, an exclusive lock
file elsewhere); the second finds the finished file and returns it.

A verified file gets a ``<dest>.sha256`` stamp (digest, size, mtime) so later uses need not
hash it again; a file whose stamp does not match is hashed, and removed if it is wrong.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from ..errors import ChecksumError, DownloadError, ModelUnavailableError
from .catalogue import FileRecord

CHUNK = 1 << 20
#: Seconds without data after which a connection is considered dead.
TIMEOUT = 60.0
#: Attempts per mirror for dropped connections and 5xx answers (each resumes the .part file).
RETRIES = 3

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows and others
    fcntl = None  # type: ignore[assignment]
try:  # Windows
    import msvcrt
except ImportError:
    msvcrt = None  # type: ignore[assignment]


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


class FileLock:
    """An exclusive inter-process lock on ``path`` (created if missing), usable as a context manager.

    Uses ``fcntl.flock`` on POSIX and ``msvcrt.locking`` on Windows; elsewhere an ``O_EXCL``
    lock file that is taken over when older than ``stale_after`` seconds.
    """

    def __init__(self, path: str | os.PathLike, timeout: float | None = None, poll: float = 0.05,
                 stale_after: float = 3600.0):
        self.path = Path(path)
        self.timeout = timeout
        self.poll = poll
        self.stale_after = stale_after
        self._file: IO[bytes] | None = None
        self._exclusive_file = False

    def _expired(self, start: float) -> bool:
        return self.timeout is not None and time.monotonic() - start > self.timeout

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        if fcntl is not None or msvcrt is not None:
            handle = open(self.path, "a+b")  # noqa: SIM115 - held until release()
            while True:
                try:
                    if fcntl is not None:
                        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    else:  # pragma: no cover - Windows
                        handle.seek(0)
                        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
                    self._file = handle
                    return
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK):
                        handle.close()
                        raise
                if self._expired(start):
                    handle.close()
                    raise TimeoutError(f"could not lock {self.path} within {self.timeout} s")
                time.sleep(self.poll)
        while True:  # pragma: no cover - platforms without fcntl/msvcrt
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                os.close(fd)
                self._exclusive_file = True
                return
            except FileExistsError:
                with contextlib.suppress(OSError):
                    if time.time() - self.path.stat().st_mtime > self.stale_after:
                        self.path.unlink()
                        continue
            if self._expired(start):
                raise TimeoutError(f"could not lock {self.path} within {self.timeout} s")
            time.sleep(self.poll)

    def release(self) -> None:
        if self._file is not None:
            try:
                if fcntl is not None:
                    fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
                elif msvcrt is not None:  # pragma: no cover - Windows
                    self._file.seek(0)
                    msvcrt.locking(self._file.fileno(), msvcrt.LK_UNLCK, 1)
            finally:
                self._file.close()
                self._file = None
        elif self._exclusive_file:  # pragma: no cover
            with contextlib.suppress(OSError):
                self.path.unlink()
            self._exclusive_file = False

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class _PlainProgress:
    """Progress on stderr without tqdm: one line at most every second."""

    def __init__(self, total: int, initial: int, desc: str):
        self.total = total
        self.done = initial
        self.desc = desc
        self.last = 0.0

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= 1.0 or self.done >= self.total:
            self.last = now
            pct = 100.0 * self.done / self.total if self.total else 100.0
            print(f"\r{self.desc}: {self.done / 1e6:.1f}/{self.total / 1e6:.1f} MB ({pct:.0f}%)",
                  end="\n" if self.done >= self.total else "", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.done < self.total and self.last:
            print(file=sys.stderr)


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, initial: int, desc: str, enabled: bool) -> object:
    """A tqdm bar when tqdm is installed, else a plain stderr line; nothing when disabled."""
    if not enabled:
        return _NoProgress()
    try:
        from tqdm.auto import tqdm  # noqa: PLC0415
    except ImportError:
        return _PlainProgress(total, initial, desc)
    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024, desc=desc,
                leave=False)


def _stamp_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".sha256")


def _write_stamp(dest: Path, sha256: str) -> None:
    st = dest.stat()
    _stamp_path(dest).write_text(f"{sha256} {st.st_size} {st.st_mtime_ns}\n")


def _stamp_matches(dest: Path, sha256: str) -> bool:
    try:
        digest, size, mtime = _stamp_path(dest).read_text().split()
        st = dest.stat()
    except (OSError, ValueError):
        return False
    return digest == sha256 and int(size) == st.st_size and int(mtime) == st.st_mtime_ns


def remove_file(dest: Path) -> None:
    """Remove a cached file and its stamp (missing files are fine)."""
    for path in (dest, _stamp_path(dest)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def check_file(path: Path, sha256: str, size: int | None = None, *, remove_bad: bool = True) -> bool:
    """True when ``path`` exists and has ``sha256`` (and ``size``); a wrong file is removed.

    Returns False for a missing file; raises :class:`ChecksumError` (after removing the file
    when ``remove_bad``) for a file with other bytes.
    """
    if not path.is_file():
        return False
    if _stamp_matches(path, sha256):
        return True
    actual_size = path.stat().st_size
    actual = sha256_file(path) if size is None or actual_size == size else None
    if actual == sha256:
        with contextlib.suppress(OSError):
            _write_stamp(path, sha256)
        return True
    if remove_bad:
        remove_file(path)
    what = f"sha256 {actual}" if actual else f"{actual_size} bytes instead of {size}"
    raise ChecksumError(
        f"{path} has {what}, expected sha256 {sha256}"
        + ("; the file was removed" if remove_bad else "")
    )


def offline_message(record: FileRecord, dest: Path, what: str) -> str:
    urls = "\n    ".join(record.urls)
    name = what if " " not in what else "NAME"
    return (
        f"{what} is not available offline: place the file {record.filename!r} "
        f"({record.bytes} bytes, sha256 {record.sha256}) at\n    {dest}\n"
        f"  (get it from one of:\n    {urls})\n"
        f"  or register a copy you have with gluon_onnx.zoo.register_local({name!r}, PATH); "
        "unset GLUON_ONNX_OFFLINE / drop --offline to download it."
    )


def download(record: FileRecord, dest: str | os.PathLike, *, offline: bool = False, progress: bool = True,
             timeout: float | None = None, retries: int | None = None, what: str | None = None,
             urls: Sequence[str] | None = None) -> Path:
    """Make ``dest`` a verified copy of ``record`` and return its path.

    Tries the mirrors in order (``urls`` overrides ``record.urls``); dropped connections are
    resumed from the ``.part`` file up to ``retries`` times per mirror; a mirror answering an
    HTTP error or wrong bytes is skipped. The file appears at ``dest`` only once its sha256
    matches.

    Raises
    ------
    ModelUnavailableError
        ``offline`` is set and the file is not in place; the message says where to put it.
    ChecksumError
        Every mirror that answered served bytes with another sha256 (nothing is left behind).
    DownloadError
        No mirror could deliver the file.
    """
    dest = Path(dest)
    what = what or record.filename
    timeout = TIMEOUT if timeout is None else timeout
    retries = RETRIES if retries is None else retries
    removed_bad = None
    try:
        if check_file(dest, record.sha256, record.bytes):
            return dest
    except ChecksumError as exc:
        removed_bad = exc
    if offline:
        if removed_bad is not None:
            raise ChecksumError(f"{removed_bad}\n{offline_message(record, dest, what)}") from None
        raise ModelUnavailableError(offline_message(record, dest, what))
    dest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(dest.with_name(dest.name + ".lock")):
        with contextlib.suppress(ChecksumError):
            if check_file(dest, record.sha256, record.bytes):
                return dest  # another process finished it while we waited
        part = dest.with_name(dest.name + ".part")
        failures: list[str] = []
        checksum_failures = 0
        for url in urls or record.urls:
            try:
                resumed = part.exists() and part.stat().st_size > 0
                _fetch(url, part, record, timeout=timeout, retries=retries, progress=progress, desc=what)
                actual = sha256_file(part)
                if actual != record.sha256 and resumed:
                    # the old .part may hold other bytes (another version of the file): start over once
                    part.unlink()
                    _fetch(url, part, record, timeout=timeout, retries=retries, progress=progress, desc=what)
                    actual = sha256_file(part)
                if actual != record.sha256:
                    raise ChecksumError(f"{url} served bytes with sha256 {actual}, expected {record.sha256}")
            except ChecksumError as exc:
                with contextlib.suppress(FileNotFoundError):
                    part.unlink()
                checksum_failures += 1
                failures.append(str(exc))
                continue
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
                failures.append(f"{url}: {type(exc).__name__}: {exc}")
                continue
            os.replace(part, dest)
            _write_stamp(dest, record.sha256)
            return dest
        detail = "\n  ".join(failures)
        if checksum_failures and checksum_failures == len(failures):
            raise ChecksumError(f"{what}: no mirror served the catalogued bytes (nothing was kept):\n  {detail}")
        raise DownloadError(f"{what}: every mirror failed:\n  {detail}\n"
                            + offline_message(record, dest, what).split(": ", 1)[1])


class _Truncated(ConnectionError):
    pass


def _content_range_start(value: str | None) -> int | None:
    match = re.match(r"bytes\s+(\d+)-", value or "")
    return int(match.group(1)) if match else None


def _fetch(url: str, part: Path, record: FileRecord, *, timeout: float, retries: int, progress: bool,
           desc: str) -> None:
    """Fill ``part`` with the bytes at ``url`` (resuming it), up to ``record.bytes``."""
    attempt = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        if have > record.bytes:
            part.unlink()
            have = 0
        if have == record.bytes:
            return
        headers = {"User-Agent": "gluon-onnx-zoo", "Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as resp:
                if have and (resp.status != 206 or _content_range_start(resp.headers.get("Content-Range")) != have):
                    have = 0  # the server ignored the range: start over
                mode = "ab" if have else "wb"
                bar = progress_bar(record.bytes, have, desc, progress)
                try:
                    with open(part, mode) as out:
                        for block in _read_blocks(resp):
                            have += len(block)
                            if have > record.bytes:
                                raise ChecksumError(f"{url} served more than the catalogued {record.bytes} bytes")
                            out.write(block)
                            bar.update(len(block))
                finally:
                    bar.close()
            if have < record.bytes:
                raise _Truncated(f"connection closed after {have} of {record.bytes} bytes")
            return
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # our range is past the end: the .part file is bad
                part.unlink()
            elif exc.code < 500:
                raise
            attempt += 1
            if attempt > retries:
                raise
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, OSError):
            attempt += 1
            if attempt > retries:
                raise
        time.sleep(min(0.2 * 2 ** attempt, 3.0))


def _read_blocks(resp: object) -> Iterator[bytes]:
    while True:
        try:
            block = resp.read(CHUNK)
        except http.client.IncompleteRead as exc:
            if exc.partial:
                yield exc.partial
            raise _Truncated(f"connection dropped: {exc}") from None
        if not block:
            return
        yield block
