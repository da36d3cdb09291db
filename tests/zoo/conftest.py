"""Fixtures of the zoo tests: a local HTTP file server on 127.0.0.1 and catalogues pointing at it."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from gluon_onnx.zoo.catalogue import format_catalogue

#: The server shuts itself down after this many seconds, whatever the test does.
SERVER_LIFETIME_S = 120


class FileServer:
    """Serves ``files[path]`` with a behaviour per path; records every request.

    Behaviours: ``ok`` (honours Range), ``drop-once`` (first request sends half the body and
    closes the connection), ``norange`` (ignores Range, always 200), ``wrong`` (other bytes of
    the same length), ``404``, ``slow`` (ok, in small paced chunks).
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.behaviour: dict[str, str] = {}
        self.hits: Counter = Counter()
        self.ranges: list[tuple[str, str | None]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                path = self.path
                with server.lock:
                    server.hits[path] += 1
                    count = server.hits[path]
                    server.ranges.append((path, self.headers.get("Range")))
                behaviour = server.behaviour.get(path, "ok")
                data = server.files.get(path)
                if data is None or behaviour == "404":
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if behaviour == "wrong":
                    data = bytes(b ^ 0x5A for b in data)
                start = 0
                header = self.headers.get("Range")
                if header and behaviour not in ("norange",) and header.startswith("bytes="):
                    start = int(header[6:].split("-")[0])
                if start >= len(data) and start:
                    self.send_response(416)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = data[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if behaviour == "drop-once" and count == 1:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if behaviour == "slow":
                    for i in range(0, len(body), 32768):
                        self.wfile.write(body[i:i + 32768])
                        time.sleep(0.005)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.timer = threading.Timer(SERVER_LIFETIME_S, self.httpd.shutdown)
        self.timer.daemon = True

    def add(self, path: str, data: bytes, behaviour: str = "ok") -> str:
        self.files[path] = data
        self.behaviour[path] = behaviour
        return self.base + path

    def start(self) -> FileServer:
        self.thread.start()
        self.timer.start()
        return self

    def stop(self) -> None:
        self.timer.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def file_server():
    server = FileServer().start()
    try:
        yield server
    finally:
        server.stop()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hub_entry(name: str, data: bytes, urls: list[str], filename: str | None = None, **extra: object) -> dict:
    """A catalogue entry of source ``hub`` for ``data`` served at ``urls``."""
    return {
        "name": name, "title": name, "source": "hub", "task": "classification", "licence": "Apache-2.0",
        "opset": 17, "tags": ["test"],
        "file": {"filename": filename or f"{name}.onnx", "sha256": sha256(data), "bytes": len(data),
                 "urls": list(urls)},
        "preprocess": {"kind": "image", "layout": "NCHW", "size": [32, 32], "color": "RGB", "scale": 1 / 255,
                       "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
        "rtol": 1e-4, **extra,
    }


@pytest.fixture
def custom_catalogue(tmp_path, monkeypatch):
    """Write a catalogue of the given entries and make the zoo use it (also in subprocesses)."""

    def install(entries: list[dict]) -> Path:
        path = tmp_path / "catalogue.json"
        path.write_text(format_catalogue({"schema": 1, "models": entries}))
        monkeypatch.setenv("GLUON_ONNX_ZOO_CATALOGUE", str(path))
        return path

    return install


@pytest.fixture
def zoo_root(tmp_path, monkeypatch):
    root = tmp_path / "zoo-root"
    monkeypatch.setenv("GLUON_ONNX_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GLUON_ONNX_OFFLINE", raising=False)
    return root


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())
