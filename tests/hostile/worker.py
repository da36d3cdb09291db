"""Child process that imports and runs untrusted models for the hostile-input tests.

Run as ``python -m tests.hostile.worker``; :class:`tests.hostile.harness.Worker` talks to it over
stdin/stdout (length-prefixed pickles). A segfault or a hang kills only this process, and the
parent turns it into a test failure with the reproducing model saved.

Every request gets a reply dict with ``status``:

* ``ok`` - imported and ran (``outputs`` holds numpy results for differential requests),
* ``rejected`` - a documented error (a ``gluon_onnx.errors.GluonOnnxError`` subclass),
* ``skipped`` - imported, but no inputs could be generated (unknown shapes/types),
* ``bad`` - any other exception: an undocumented failure; ``phase``, ``exc_type``, ``trace`` say where.
"""

from __future__ import annotations

import os
import pickle
import resource
import struct
import sys
import tempfile
import traceback
import warnings


def _limit_memory() -> None:
    megabytes = int(os.environ.get("GLUON_ONNX_FUZZ_MEMORY_MB", "3072"))
    if megabytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (megabytes << 20, megabytes << 20))


def _read(stream) -> object:
    header = stream.read(8)
    if len(header) < 8:
        return None
    (size,) = struct.unpack("<Q", header)
    return pickle.loads(stream.read(size))


def _write(stream, value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<Q", len(data)) + data)
    stream.flush()


class Runner:
    def __init__(self) -> None:
        import mxnet as mx  # noqa: PLC0415

        import gluon_onnx  # noqa: PLC0415
        from gluon_onnx import errors, limits  # noqa: PLC0415

        self.mx = mx
        self.gluon_onnx = gluon_onnx
        self.errors = errors
        # budgets small enough that a bomb hits them long before the address-space limit
        limits.MAX_TENSOR_ELEMENTS = int(os.environ.get("GLUON_ONNX_FUZZ_MAX_ELEMENTS", str(1 << 24)))
        # a loop of the full default budget takes tens of seconds in Python; the check is the same
        limits.MAX_LOOP_ITERATIONS = int(os.environ.get("GLUON_ONNX_FUZZ_MAX_ITERATIONS", "2000"))
        self.limits = limits

    # --- inputs ------------------------------------------------------------------------------------------
    def make_inputs(self, net: object, seed: int) -> list | None:
        import numpy as np  # noqa: PLC0415

        from gluon_onnx.dtypes import to_storage  # noqa: PLC0415

        rng = np.random.default_rng(seed)
        arrays = []
        sizes: dict[object, int] = {}  # one value per free dimension (e.g. N, S), shared by all inputs
        for name in net.input_names:
            info = net.plan.info(name)
            if info.dtype is None or info.shape is None or info.dtype.kind not in "fiub":
                return None
            shape = [d if isinstance(d, int) else sizes.setdefault(d, int(rng.integers(1, 4))) for d in info.shape]
            if int(np.prod(shape, dtype=np.int64)) > 1_000_000:
                shape = [min(d, 3) for d in shape]
            if info.dtype.kind == "f":
                value = rng.standard_normal(shape).astype(info.dtype)
            elif info.dtype.kind == "b":
                value = rng.random(shape) > 0.5
            else:
                # small values, negative ones too: index inputs go out of range on purpose
                low = -6 if info.dtype.kind == "i" else 0
                value = rng.integers(low, 12, size=shape).astype(info.dtype)
            value = to_storage(value)
            with self.mx.util.np_shape(True):
                arrays.append(self.mx.nd.array(value, dtype=value.dtype))
        return arrays

    @staticmethod
    def _collect(result: object) -> list:
        """numpy values of every output (as a user reading them would: ``asnumpy``)."""
        if isinstance(result, (list, tuple)):
            found = []
            for item in result:
                found.extend(Runner._collect(item))
            return found
        if result is None:
            return [None]
        return [result.asnumpy()]

    # --- requests ----------------------------------------------------------------------------------------
    def handle(self, request: dict) -> dict:
        reply = self._handle(request)
        # an operation that failed asynchronously must be charged to this case, not to the next one
        try:
            self.mx.nd.waitall()
        except BaseException as exc:  # noqa: BLE001
            reply = {"status": "bad", "phase": f"async after {reply.get('status')}",
                     "exc_type": f"{type(exc).__module__}.{type(exc).__name__}", "message": str(exc)[:4000],
                     "trace": traceback.format_exc()[-6000:]}
        return reply

    def _handle(self, request: dict) -> dict:
        phase = "load"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                net = self.gluon_onnx.load_block(request["model"])
                phase = "inputs"
                if request.get("inputs") is not None:
                    inputs = [self._to_nd(v) for v in request["inputs"]]
                else:
                    inputs = self.make_inputs(net, request.get("seed", 0))
                if inputs is None:
                    return {"status": "skipped"}
                results = {}
                phase = "imperative"
                with self.mx.util.np_shape(True):
                    results["imperative"] = self._collect(net(*inputs))
                if request.get("hybridize"):
                    phase = "hybridized"
                    net.hybridize()
                    with self.mx.util.np_shape(True):
                        results["hybridized"] = self._collect(net(*inputs))
                        # a second call runs the cached graph
                        results["hybridized"] = self._collect(net(*inputs))
        except self.errors.GluonOnnxError as exc:
            reply = {"status": "rejected", "phase": phase, "exc_type": type(exc).__name__, "message": str(exc)[:2000]}
            cause = exc.__cause__
            if cause is not None and not isinstance(cause, self.errors.GluonOnnxError):
                # a typed error wrapping an unexpected exception (the planner's/executor's safety nets):
                # documented for the user, but a converter or planner bug for the developers
                reply["wrapped"] = f"{type(cause).__module__}.{type(cause).__name__}"
                reply["trace"] = "".join(traceback.format_exception(cause))[-6000:]
            return reply
        except BaseException as exc:  # noqa: BLE001 - everything else is reported to the parent
            return {"status": "bad", "phase": phase, "exc_type": f"{type(exc).__module__}.{type(exc).__name__}",
                    "message": str(exc)[:4000], "trace": traceback.format_exc()[-6000:]}
        reply = {"status": "ok"}
        if request.get("return_outputs"):
            reply["outputs"] = results
        return reply

    def _to_nd(self, value: object) -> object:
        from gluon_onnx.dtypes import to_storage  # noqa: PLC0415

        value = to_storage(value)
        with self.mx.util.np_shape(True):
            return self.mx.nd.array(value, dtype=value.dtype)


def main() -> None:
    import faulthandler  # noqa: PLC0415

    faulthandler.enable()  # a crash prints the Python stack (which converter) to stderr, which the parent shows
    _limit_memory()
    # bytes-sourced models read external data relative to the current directory: make it an empty
    # scratch folder with one symlink that leaves it
    scratch = tempfile.mkdtemp(prefix="gluon_onnx_fuzz_cwd_")
    os.chdir(scratch)
    try:
        os.symlink("/etc/hostname", os.path.join(scratch, "link_out"))
    except OSError:
        pass
    # the protocol gets its own descriptor: stray prints (Python or C++) of the code under test go to stderr
    stdout = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    stdin = sys.stdin.buffer
    runner = Runner()
    _write(stdout, {"status": "ready"})
    while True:
        request = _read(stdin)
        if request is None:
            break
        _write(stdout, runner.handle(request))


if __name__ == "__main__":
    main()
