"""Fuzzing: mutated models give documented errors only, never a crash, a hang or a bare traceback.

Valid models (``corpus.py``: the bundled samples, official node tests, the onnx wheel's light
models) are damaged byte-wise (flips, truncation, splices) and structurally (op types, attribute
types and values, dims, dtypes, names, opsets, removed initializers, duplicated nodes, cycles,
resource bombs, deep nesting, hostile external data; ``mutations.py``). Each mutated model is
imported with ``load_block`` and run imperatively (and hybridized for a third of the cases) on
small random inputs in a separate worker process: a segfault or a hang fails the test with the
reproducing model saved, instead of killing the test run.

CI runs a small deterministic sample. A long run::

    GLUON_ONNX_FUZZ_EXAMPLES=5000 python -m pytest tests/hostile/test_fuzz.py -s

(``GLUON_ONNX_FUZZ_SEED`` changes the examples, ``GLUON_ONNX_FUZZ_STRICT=1`` also fails on typed
errors that only wrap an unexpected exception; failing models are written to
``$GLUON_ONNX_FUZZ_ARTIFACTS``, by default ``<tmp>/gluon_onnx_fuzz``.)
"""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from .corpus import corpus  # noqa: E402
from .harness import WorkerFailure, artifacts_dir, env_int, save_artifact, shared_worker  # noqa: E402
from .mutations import BYTES, STRUCTURED, mutate  # noqa: E402

EXAMPLES = env_int("GLUON_ONNX_FUZZ_EXAMPLES", 400)
#: also fail on typed errors that wrap an unexpected exception (safety nets hiding a bug)
STRICT = bool(env_int("GLUON_ONNX_FUZZ_STRICT", 0))
#: documented outcomes of a hostile model
ALLOWED = ("ok", "rejected", "skipped")

STATS: dict[str, int] = {}

mutation_lists = st.lists(
    st.tuples(st.sampled_from(sorted(STRUCTURED) + sorted(BYTES)), st.integers(0, 2**32 - 1)), min_size=1, max_size=3)


def _settings() -> settings:
    # the CI sample is deterministic (no flaky CI); GLUON_ONNX_FUZZ_SEED or a long run explores
    return settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize="GLUON_ONNX_FUZZ_SEED" not in
                    os.environ and "GLUON_ONNX_FUZZ_EXAMPLES" not in os.environ,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example])


def check_case(data: bytes, label: str, *, hybridize: bool, input_seed: int) -> dict:
    """Run one model in the worker; fail (with the model saved) on anything undocumented."""
    worker = shared_worker()
    try:
        reply = worker.request({"model": data, "seed": input_seed, "hybridize": hybridize})
    except WorkerFailure as failure:
        path = save_artifact(data, f"{failure.kind}-{label}")
        STATS[failure.kind] = STATS.get(failure.kind, 0) + 1
        pytest.fail(f"{label}: the worker {failure.kind}ed (hybridize={hybridize}, input seed {input_seed}); "
                    f"model saved to {path}\n{failure}", pytrace=False)
    status = reply["status"]
    STATS[status] = STATS.get(status, 0) + 1
    if status == "rejected":
        STATS["rejected:" + reply["exc_type"]] = STATS.get("rejected:" + reply["exc_type"], 0) + 1
        assert reply["message"].strip(), f"{label}: {reply['exc_type']} without a message"
        if reply.get("wrapped"):
            STATS["wrapped"] = STATS.get("wrapped", 0) + 1
            if STRICT:
                path = save_artifact(data, f"wrapped-{label}")
                pytest.fail(f"{label}: {reply['exc_type']} wraps an unexpected {reply['wrapped']} (a planner or "
                            f"converter bug); model saved to {path}\n{reply['trace']}", pytrace=False)
    if status not in ALLOWED:
        worker.stop()  # a failed run may leave MXNet's engine in a bad state for the next case
        path = save_artifact(data, f"bad-{label}")
        pytest.fail(f"{label}: undocumented {reply['exc_type']} in phase {reply['phase']} (hybridize={hybridize}, "
                    f"input seed {input_seed}); model saved to {path}\n{reply.get('trace') or reply['message']}",
                    pytrace=False)
    return reply


@_settings()
@seed(env_int("GLUON_ONNX_FUZZ_SEED", 0))
@given(data=st.data(), mutations=mutation_lists, hybridize=st.integers(0, 2).map(lambda v: v == 0),
       input_seed=st.integers(0, 2**16))
def test_mutated_models(data, mutations, hybridize, input_seed):
    models = corpus()
    name = data.draw(st.sampled_from(sorted(models)), label="corpus model")
    other = models[data.draw(st.sampled_from(sorted(models)), label="splice source")]
    mutated = mutate(models[name], mutations, other)
    check_case(mutated, name, hybridize=hybridize, input_seed=input_seed)


@pytest.mark.parametrize("name", ["tiny_cnn", "resnet18", "bert", "lstm", "light_squeezenet"])
def test_corpus_models_run(name):
    """The unmutated corpus imports and runs (a fuzz run that only saw rejections would prove nothing)."""
    models = corpus()
    if name not in models:
        pytest.skip(f"{name} is not in this onnx wheel")
    reply = check_case(models[name], name, hybridize=True, input_seed=0)
    if reply["status"] == "rejected" and reply["exc_type"] == "UnsupportedOperatorError":
        pytest.skip(f"{name}: a converter is not on this branch yet ({reply['message'].splitlines()[-1].strip()})")
    assert reply["status"] == "ok", reply


def teardown_module(module):
    if STATS:
        path = artifacts_dir() / "fuzz-stats.json"
        path.write_text(json.dumps(STATS, indent=1, sort_keys=True))
        print(f"\nfuzz outcomes: {json.dumps(STATS, sort_keys=True)} (also in {path})")
