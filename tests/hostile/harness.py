"""Parent side of the crash-isolated runs: a persistent worker process, per-case time bounds and
saved reproducers.

Knobs (environment variables):

* ``GLUON_ONNX_FUZZ_EXAMPLES`` - hypothesis examples per fuzz test (CI default is small; e.g. 5000
  for a long run),
* ``GLUON_ONNX_DIFF_EXAMPLES`` - random graphs the differential test checks,
* ``GLUON_ONNX_FUZZ_TIMEOUT`` - seconds one case may take before it counts as a hang (default 60),
* ``GLUON_ONNX_FUZZ_MEMORY_MB`` - address-space limit of the worker (default 3072),
* ``GLUON_ONNX_FUZZ_ARTIFACTS`` - where reproducing models are written (default: a
  ``gluon_onnx_fuzz`` folder in the system temp directory).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import select
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def artifacts_dir() -> Path:
    folder = Path(os.environ.get("GLUON_ONNX_FUZZ_ARTIFACTS") or Path(tempfile.gettempdir()) / "gluon_onnx_fuzz")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_artifact(data: bytes, label: str) -> Path:
    """Write a reproducing model; the name holds its hash, so reruns do not pile up copies."""
    digest = hashlib.sha256(data).hexdigest()[:16]
    path = artifacts_dir() / f"{label}-{digest}.onnx"
    path.write_bytes(data)
    return path


class WorkerFailure(Exception):
    """The worker died (crash) or did not answer in time (hang)."""

    def __init__(self, kind: str, detail: str):
        self.kind = kind
        super().__init__(f"{kind}: {detail}")


class Worker:
    """A ``tests.hostile.worker`` child process answering one request at a time."""

    def __init__(self, timeout: float | None = None):
        self.timeout = timeout if timeout is not None else float(env_int("GLUON_ONNX_FUZZ_TIMEOUT", 60))
        self.process: subprocess.Popen | None = None
        self._stderr = None
        self.cases = 0

    # --- process -----------------------------------------------------------------------------------------
    def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        env.setdefault("OMP_NUM_THREADS", "1")
        env.setdefault("MXNET_CPU_WORKER_NTHREADS", "1")
        self._stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.hostile.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr, env=env, cwd=str(ROOT))
        ready = self._receive(max(self.timeout, 120.0))
        if ready.get("status") != "ready":
            raise RuntimeError(f"worker did not start: {ready}")

    def stop(self) -> None:
        if self.process is not None:
            try:
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except Exception:  # noqa: BLE001
                self.process.kill()
                self.process.wait()
            self.process = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def stderr_tail(self, size: int = 4000) -> str:
        """The end of the worker's stderr (a crash's native message and Python stack)."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0, os.SEEK_END)
        end = self._stderr.tell()
        self._stderr.seek(max(0, end - 4 * size))
        lines = self._stderr.read().decode("utf-8", "replace").splitlines()
        # faulthandler's list of loaded extension modules says nothing about the crash
        lines = [line for line in lines if not line.startswith("Extension modules:")]
        return "\n".join(lines)[-size:]

    # --- protocol ----------------------------------------------------------------------------------------
    def _receive(self, timeout: float) -> dict:
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        buffer = b""
        needed = 8
        size = None
        while len(buffer) < needed:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerFailure("hang", f"no answer within {timeout:.0f} s")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, max(needed - len(buffer), 1 << 16))
            if not chunk:
                code = self.process.wait()
                raise WorkerFailure("crash", f"worker exited with code {code}\n{self.stderr_tail()}")
            buffer += chunk
            if size is None and len(buffer) >= 8:
                (size,) = struct.unpack("<Q", buffer[:8])
                needed = 8 + size
        return pickle.loads(buffer[8:needed])

    def request(self, payload: dict) -> dict:
        """Send one case; returns the worker's reply or raises WorkerFailure (worker restarted)."""
        if self.process is None:
            self.start()
        data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        self.cases += 1
        try:
            self.process.stdin.write(struct.pack("<Q", len(data)) + data)
            self.process.stdin.flush()
            return self._receive(self.timeout)
        except (BrokenPipeError, WorkerFailure) as exc:
            gone = WorkerFailure("crash", f"worker gone\n{self.stderr_tail()}")
            detail = exc if isinstance(exc, WorkerFailure) else gone
            if self.process is not None and self.process.poll() is None:
                self.process.kill()
            if self.process is not None:
                self.process.wait()
            self.process = None
            raise detail from None


_SHARED: Worker | None = None


def shared_worker() -> Worker:
    """One worker per test process (importing MXNet once is the expensive part)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = Worker()
        import atexit  # noqa: PLC0415

        atexit.register(_SHARED.stop)
    return _SHARED
