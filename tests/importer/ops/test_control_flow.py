"""If, Loop, Scan and sequences beyond the official node tests, checked against onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import gluon_onnx
from gluon_onnx.backend import GluonOnnxBackend, HybridizedBackend
from gluon_onnx.errors import HybridizationError, UnsupportedOperatorError
from tests.importer.ops.oracle import check_model, make_model, reference_outputs

FLOAT, INT64, BOOL = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
BACKENDS = {"imperative": GluonOnnxBackend, "hybridized": HybridizedBackend}


def _assert_same(ours: list, refs: list, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    assert len(ours) == len(refs)
    for a, b in zip(ours, refs):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def _input_dependent_if() -> onnx.ModelProto:
    """y = x * 2 if x[0] != 0 else x - w (w an initializer read inside the branch)."""
    then_graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "two"], ["then_y"])], "then",
        [], [helper.make_tensor_value_info("then_y", FLOAT, [4])],
        [helper.make_tensor("two", FLOAT, [], [2.0])],
    )
    else_graph = helper.make_graph(
        [helper.make_node("Sub", ["x", "w"], ["else_y"])], "else",
        [], [helper.make_tensor_value_info("else_y", FLOAT, [4])],
    )
    nodes = [
        helper.make_node("Gather", ["x", "zero"], ["first"], axis=0),
        helper.make_node("Cast", ["first"], ["cond"], to=BOOL),
        helper.make_node("If", ["cond"], ["y"], then_branch=then_graph, else_branch=else_graph),
    ]
    inits = [helper.make_tensor("zero", INT64, [], [0]),
             helper.make_tensor("w", FLOAT, [4], [0.5, 1.0, 1.5, 2.0])]
    return make_model(nodes, [helper.make_tensor_value_info("x", FLOAT, [4])],
                      [helper.make_tensor_value_info("y", FLOAT, [4])], inits, opset=13)


@pytest.mark.parametrize("mode", ["imperative", "hybridized"])
def test_if_condition_from_input(mode: str) -> None:
    model = _input_dependent_if()
    rep = BACKENDS[mode].prepare(model, "CPU")
    for first in (1.5, 0.0, -2.0, 0.0):  # both branches, twice, on the same (hybridized) block
        x = np.array([first, 1.0, 2.0, 3.0], dtype=np.float32)
        _assert_same(list(rep.run([x])), reference_outputs(model, {"x": x}))


def test_if_branch_initializer_is_a_trainable_parameter() -> None:
    block = gluon_onnx.load_block(_input_dependent_if())
    assert "w" in block.onnx_params and block.onnx_params["w"].grad_req == "write"


def test_if_with_constant_condition_is_folded() -> None:
    then_graph = helper.make_graph([helper.make_node("Neg", ["x"], ["t"])], "then", [],
                                   [helper.make_tensor_value_info("t", FLOAT, [3])])
    else_graph = helper.make_graph([helper.make_node("NoSuchOp", ["x"], ["e"])], "else", [],
                                   [helper.make_tensor_value_info("e", FLOAT, [3])])
    nodes = [helper.make_node("Constant", [], ["c"], value=helper.make_tensor("c", BOOL, [], [True])),
             helper.make_node("If", ["c"], ["y"], then_branch=then_graph, else_branch=else_graph)]
    model = make_model(nodes, [helper.make_tensor_value_info("x", FLOAT, [3])],
                       [helper.make_tensor_value_info("y", FLOAT, [3])], opset=13)
    block = gluon_onnx.load_block(model)  # the untaken branch's unknown operator does not matter
    (step,) = block.plan.steps
    assert list(step.subgraphs) == ["then_branch"]
    x = np.array([1.0, -2.0, 3.0], dtype=np.float32)
    check_model(model, {"x": x}, expected=[-x])


def test_unsupported_operators_inside_subgraphs_are_reported() -> None:
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("FancyOp", ["s_in"], ["s_out"])], "body",
        [helper.make_tensor_value_info("i", INT64, []), helper.make_tensor_value_info("cond_in", BOOL, []),
         helper.make_tensor_value_info("s_in", FLOAT, [2])],
        [helper.make_tensor_value_info("cond_out", BOOL, []), helper.make_tensor_value_info("s_out", FLOAT, [2])],
    )
    nodes = [helper.make_node("Loop", ["n", "", "s"], ["r"], body=body),
             helper.make_node("OtherMissingOp", ["r"], ["y"])]
    model = make_model(nodes, [helper.make_tensor_value_info("n", INT64, []),
                               helper.make_tensor_value_info("s", FLOAT, [2])],
                       [helper.make_tensor_value_info("y", FLOAT, [2])], opset=13)
    with pytest.raises(UnsupportedOperatorError) as info:
        gluon_onnx.load_block(model)
    missing = {op for _, op, _, _ in info.value.missing}
    assert missing == {"FancyOp", "OtherMissingOp"}
    assert "FancyOp" in str(info.value) and "Loop" in str(info.value)  # the scoped node name


def _counting_loop(trip_count_input: bool) -> onnx.ModelProto:
    """acc_out = acc_in + x * iter; scan output acc_out; runs M times."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Cast", ["i"], ["i_float"], to=FLOAT),
         helper.make_node("Mul", ["x", "i_float"], ["scaled"]),
         helper.make_node("Add", ["acc_in", "scaled"], ["acc_out"]),
         helper.make_node("Identity", ["acc_out"], ["scan"])], "body",
        [helper.make_tensor_value_info("i", INT64, []), helper.make_tensor_value_info("cond_in", BOOL, []),
         helper.make_tensor_value_info("acc_in", FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("cond_out", BOOL, []),
         helper.make_tensor_value_info("acc_out", FLOAT, ["N", 3]),
         helper.make_tensor_value_info("scan", FLOAT, ["N", 3])],
    )
    inputs = [helper.make_tensor_value_info("x", FLOAT, ["N", 3])]
    nodes = [helper.make_node("Mul", ["x", "zero"], ["acc0"])]
    inits = [helper.make_tensor("zero", FLOAT, [1], [0.0]), helper.make_tensor("yes", BOOL, [], [True])]
    if trip_count_input:
        inputs.append(helper.make_tensor_value_info("M", INT64, []))
    else:
        inits.append(helper.make_tensor("M", INT64, [], [4]))
    nodes.append(helper.make_node("Loop", ["M", "yes", "acc0"], ["acc", "history"], body=body))
    return make_model(nodes, inputs, [helper.make_tensor_value_info("acc", FLOAT, ["N", 3]),
                                      helper.make_tensor_value_info("history", FLOAT, [None, "N", 3])],
                      inits, opset=13)


@pytest.mark.parametrize("mode", ["imperative", "hybridized"])
def test_loop_with_runtime_trip_count(mode: str) -> None:
    model = _counting_loop(trip_count_input=True)
    rep = BACKENDS[mode].prepare(model, "CPU")
    rng = np.random.default_rng(0)
    for trips, batch in ((3, 2), (6, 1), (3, 2), (1, 2)):
        x = rng.standard_normal((batch, 3)).astype(np.float32)
        m = np.array(trips, dtype=np.int64)
        refs = reference_outputs(model, {"x": x, "M": m})
        _assert_same(list(rep.run([x, m])), refs)


def test_loop_with_constant_trip_count_and_dynamic_batch() -> None:
    model = _counting_loop(trip_count_input=False)
    rep = HybridizedBackend.prepare(model, "CPU")
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 3)).astype(np.float32)
        _assert_same(list(rep.run([x])), reference_outputs(model, {"x": x}))


def _while_model() -> onnx.ModelProto:
    """Counts down s (>= 0) to zero: the body computes the condition, no scan outputs."""
    body = helper.make_graph(
        [helper.make_node("Sub", ["s_in", "one"], ["minus"]),
         helper.make_node("Relu", ["minus"], ["s_out"]),
         helper.make_node("Cast", ["s_out"], ["cond_out"], to=BOOL),
         helper.make_node("Add", ["count_in", "one"], ["count_out"])], "body",
        [helper.make_tensor_value_info("i", INT64, []), helper.make_tensor_value_info("cond_in", BOOL, []),
         helper.make_tensor_value_info("s_in", FLOAT, []), helper.make_tensor_value_info("count_in", FLOAT, [])],
        [helper.make_tensor_value_info("cond_out", BOOL, []), helper.make_tensor_value_info("s_out", FLOAT, []),
         helper.make_tensor_value_info("count_out", FLOAT, [])],
    )
    nodes = [helper.make_node("Constant", [], ["zero"], value=helper.make_tensor("zero", FLOAT, [], [0.0])),
             helper.make_node("Constant", [], ["one"], value=helper.make_tensor("one", FLOAT, [], [1.0])),
             helper.make_node("Loop", ["limit", "go", "s", "zero"], ["rest", "count"], body=body)]
    inits = [helper.make_tensor("limit", INT64, [], [50]), helper.make_tensor("go", BOOL, [], [True])]
    return make_model(nodes, [helper.make_tensor_value_info("s", FLOAT, [])],
                      [helper.make_tensor_value_info("rest", FLOAT, []),
                       helper.make_tensor_value_info("count", FLOAT, [])], inits, opset=13)


@pytest.mark.parametrize("mode", ["imperative", "hybridized"])
def test_loop_whose_body_computes_the_condition(mode: str) -> None:
    model = _while_model()
    rep = BACKENDS[mode].prepare(model, "CPU")
    for start in (3.5, 7.0, 0.5, 120.0):  # 120 stops at the trip count limit of 50
        s = np.array(start, dtype=np.float32)
        _assert_same(list(rep.run([s])), reference_outputs(model, {"s": s}))


def test_loop_carrying_a_sequence_hybridized_retraces_per_trip_count() -> None:
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["i", "one"], ["count"]),
         helper.make_node("Unsqueeze", ["count", "axes"], ["end"]),
         helper.make_node("Slice", ["x", "start", "end"], ["head"]),
         helper.make_node("SequenceInsert", ["seq_in", "head"], ["seq_out"])], "body",
        [helper.make_tensor_value_info("i", INT64, []), helper.make_tensor_value_info("cond_in", BOOL, []),
         helper.make_tensor_sequence_value_info("seq_in", FLOAT, None)],
        [helper.make_tensor_value_info("cond_out", BOOL, []),
         helper.make_tensor_sequence_value_info("seq_out", FLOAT, None)],
    )
    nodes = [helper.make_node("SequenceEmpty", [], ["empty"], dtype=FLOAT),
             helper.make_node("Loop", ["M", "", "empty"], ["seq"], body=body),
             helper.make_node("ConcatFromSequence", ["seq"], ["flat"], axis=0)]
    inits = [helper.make_tensor("axes", INT64, [1], [0]), helper.make_tensor("start", INT64, [1], [0]),
             helper.make_tensor("one", INT64, [], [1])]
    model = make_model(nodes, [helper.make_tensor_value_info("x", FLOAT, [6]),
                               helper.make_tensor_value_info("M", INT64, [])],
                       [helper.make_tensor_value_info("flat", FLOAT, [None])], inits, opset=13)
    x = np.arange(6, dtype=np.float32) + 1
    for mode in ("imperative", "hybridized"):
        rep = BACKENDS[mode].prepare(model, "CPU")
        for trips in (4, 6):
            m = np.array(trips, dtype=np.int64)
            # x[:1] + x[:2] + ... + x[:trips]
            expected = np.concatenate([x[:i + 1] for i in range(trips)])
            _assert_same(list(rep.run([x, m])), [expected])
            _assert_same([expected], reference_outputs(model, {"x": x, "M": m}))


def _scan_model() -> onnx.ModelProto:
    """Running sum over axis 1 of x in reverse, scan output stacked on axis 1 in reverse order."""
    body = helper.make_graph(
        [helper.make_node("Add", ["sum_in", "row"], ["sum_out"]),
         helper.make_node("Mul", ["sum_out", "w"], ["scan_out"])], "body",
        [helper.make_tensor_value_info("sum_in", FLOAT, [2]), helper.make_tensor_value_info("row", FLOAT, [2])],
        [helper.make_tensor_value_info("sum_out", FLOAT, [2]), helper.make_tensor_value_info("scan_out", FLOAT, [2])],
    )
    node = helper.make_node("Scan", ["init", "x"], ["total", "partial"], body=body, num_scan_inputs=1,
                            scan_input_axes=[1], scan_input_directions=[1], scan_output_axes=[-1],
                            scan_output_directions=[1])
    return make_model([node], [helper.make_tensor_value_info("init", FLOAT, [2]),
                               helper.make_tensor_value_info("x", FLOAT, [2, "T"])],
                      [helper.make_tensor_value_info("total", FLOAT, [2]),
                       helper.make_tensor_value_info("partial", FLOAT, [2, "T"])],
                      [helper.make_tensor("w", FLOAT, [2], [1.0, -0.5])], opset=16)


def test_scan_axes_and_directions_with_varying_length() -> None:
    model = _scan_model()
    for mode, backend in BACKENDS.items():
        rep = backend.prepare(model, "CPU")
        for steps in (3, 5):
            feeds = {"init": np.array([0.5, -1.0], dtype=np.float32),
                     "x": np.random.default_rng(steps).standard_normal((2, steps)).astype(np.float32)}
            _assert_same(list(rep.run([feeds["init"], feeds["x"]])), reference_outputs(model, feeds))


def test_if_returning_sequences_of_different_lengths_is_not_hybridizable() -> None:
    then_graph = helper.make_graph([helper.make_node("SequenceConstruct", ["x", "x"], ["t"])], "then", [],
                                   [helper.make_tensor_sequence_value_info("t", FLOAT, [2])])
    else_graph = helper.make_graph([helper.make_node("SequenceConstruct", ["x"], ["e"])], "else", [],
                                   [helper.make_tensor_sequence_value_info("e", FLOAT, [2])])
    nodes = [helper.make_node("If", ["c"], ["s"], then_branch=then_graph, else_branch=else_graph)]
    model = make_model(nodes, [helper.make_tensor_value_info("c", BOOL, []),
                               helper.make_tensor_value_info("x", FLOAT, [2])],
                       [helper.make_tensor_sequence_value_info("s", FLOAT, [2])], opset=13)
    x = np.array([1.0, 2.0], dtype=np.float32)
    outs = GluonOnnxBackend.prepare(model, "CPU").run([np.array(True), x])
    assert len(outs[0]) == 2 and all(np.array_equal(v, x) for v in outs[0])
    with pytest.raises(HybridizationError, match="different lengths"):
        HybridizedBackend.prepare(model, "CPU").run([np.array(False), x])


def _voice_activity_model() -> onnx.ModelProto:
    """The shape of a streaming voice-activity detector: an If on the sample rate picks one of two
    encoders; both run an LSTM on carried state (h, c) with weights from the main graph."""
    rng = np.random.default_rng(2)
    hidden, frame = 4, 8

    def branch(tag: str) -> onnx.GraphProto:
        nodes = [
            helper.make_node("MatMul", ["audio", f"enc_{tag}"], [f"feat_{tag}"]),
            helper.make_node("Unsqueeze", [f"feat_{tag}", "axis0"], [f"seq_{tag}"]),
            helper.make_node("LSTM", [f"seq_{tag}", f"W_{tag}", f"R_{tag}", f"B_{tag}", "", "h", "c"],
                             ["", f"h_{tag}", f"c_{tag}"], hidden_size=hidden),
            helper.make_node("Squeeze", [f"h_{tag}", "axis0"], [f"last_{tag}"]),
            helper.make_node("MatMul", [f"last_{tag}", "head"], [f"logit_{tag}"]),
            helper.make_node("Sigmoid", [f"logit_{tag}"], [f"prob_{tag}"]),
        ]
        outputs = [helper.make_tensor_value_info(f"prob_{tag}", FLOAT, ["N", 1]),
                   helper.make_tensor_value_info(f"h_{tag}", FLOAT, [1, "N", hidden]),
                   helper.make_tensor_value_info(f"c_{tag}", FLOAT, [1, "N", hidden])]
        return helper.make_graph(nodes, f"sr_{tag}", [], outputs)

    def array(name: str, *shape: int) -> onnx.TensorProto:
        return onnx.numpy_helper.from_array(rng.uniform(-0.6, 0.6, shape).astype(np.float32), name)

    inits = [array("head", hidden, 1), onnx.numpy_helper.from_array(np.array([0], dtype=np.int64), "axis0"),
             onnx.numpy_helper.from_array(np.array(8000, dtype=np.int64), "rate8k")]
    for tag, features in (("16k", 6), ("8k", 3)):
        inits += [array(f"enc_{tag}", frame, features), array(f"W_{tag}", 1, 4 * hidden, features),
                  array(f"R_{tag}", 1, 4 * hidden, hidden), array(f"B_{tag}", 1, 8 * hidden)]
    nodes = [helper.make_node("Sub", ["sr", "rate8k"], ["not_8k"]),
             helper.make_node("Cast", ["not_8k"], ["is_16k"], to=TensorProto.BOOL),
             helper.make_node("If", ["is_16k"], ["prob", "hn", "cn"], then_branch=branch("16k"),
                              else_branch=branch("8k"))]
    inputs = [helper.make_tensor_value_info("audio", FLOAT, ["N", frame]),
              helper.make_tensor_value_info("sr", INT64, []),
              helper.make_tensor_value_info("h", FLOAT, [1, "N", hidden]),
              helper.make_tensor_value_info("c", FLOAT, [1, "N", hidden])]
    outputs = [helper.make_tensor_value_info("prob", FLOAT, ["N", 1]),
               helper.make_tensor_value_info("hn", FLOAT, [1, "N", hidden]),
               helper.make_tensor_value_info("cn", FLOAT, [1, "N", hidden])]
    return make_model(nodes, inputs, outputs, inits, opset=14)


@pytest.mark.parametrize("mode", ["imperative", "hybridized"])
def test_voice_activity_pattern_if_on_sample_rate_with_lstm_state(mode: str) -> None:
    model = _voice_activity_model()
    rep = BACKENDS[mode].prepare(model, "CPU")
    rng = np.random.default_rng(4)
    for sr in (16000, 8000):
        h = np.zeros((1, 2, 4), dtype=np.float32)
        c = np.zeros((1, 2, 4), dtype=np.float32)
        for _ in range(3):  # streaming: the state returned is fed back
            feeds = {"audio": rng.standard_normal((2, 8)).astype(np.float32), "sr": np.array(sr, dtype=np.int64),
                     "h": h, "c": c}
            ours = list(rep.run([feeds[name] for name in ("audio", "sr", "h", "c")]))
            refs = reference_outputs(model, feeds)
            _assert_same(ours, refs, rtol=1e-4, atol=1e-5)
            _, h, c = refs
    assert {"W_16k", "W_8k", "enc_16k", "head"} <= set(rep.block.onnx_params)


def test_if_on_input_sizes_runs_one_branch_per_traced_shape() -> None:
    """cond = (batch == 1), branches of different shapes: a trace per input shape picks one."""
    then_graph = helper.make_graph([helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0])], "then", [],
                                   [helper.make_tensor_value_info("t", FLOAT, [2, "N"])])
    else_graph = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [],
                                   [helper.make_tensor_value_info("e", FLOAT, ["N", 2])])
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
             helper.make_node("Sub", ["batch", "one"], ["batch_minus_one"]),
             helper.make_node("Cast", ["batch_minus_one"], ["not_one"], to=BOOL),
             helper.make_node("If", ["not_one"], ["y"], then_branch=else_graph, else_branch=then_graph)]
    inits = [helper.make_tensor("zero", INT64, [], [0]), helper.make_tensor("one", INT64, [], [1])]
    model = make_model(nodes, [helper.make_tensor_value_info("x", FLOAT, ["N", 2])],
                       [helper.make_tensor_value_info("y", FLOAT, None)], inits, opset=13)
    rep = HybridizedBackend.prepare(model, "CPU")
    for batch in (3, 1, 2):
        x = np.arange(batch * 2, dtype=np.float32).reshape(batch, 2)
        expected = x if batch != 1 else x.T
        _assert_same(list(rep.run([x])), [expected])
    assert rep.block.is_shape_specialized
    assert "If node" in rep.block.specialization_reason and "different shapes" in rep.block.specialization_reason


def _no_boxes_or_kept_model() -> onnx.ModelProto:
    """torchvision's batched_nms: `if boxes.numel() == 0: return empty else: return keep` on boxes
    selected by a score threshold (a data-dependent count)."""
    then_graph = helper.make_graph(
        [helper.make_node("Constant", [], ["empty"], value=helper.make_tensor("e", INT64, [0], []))], "then", [],
        [helper.make_tensor_value_info("empty", INT64, [0])])
    else_graph = helper.make_graph(
        [helper.make_node("NonZero", ["big"], ["where"]), helper.make_node("Squeeze", ["where", "zero1"], ["keep"])],
        "else", [], [helper.make_tensor_value_info("keep", INT64, None)])
    nodes = [
        helper.make_node("Greater", ["x", "threshold"], ["chosen"]),
        helper.make_node("Compress", ["x", "chosen"], ["kept"], axis=0),
        helper.make_node("Greater", ["kept", "half"], ["big"]),
        helper.make_node("Size", ["kept"], ["count"]),
        helper.make_node("Equal", ["count", "zero"], ["none"]),
        helper.make_node("If", ["none"], ["keep"], then_branch=then_graph, else_branch=else_graph),
        helper.make_node("Gather", ["kept", "keep"], ["y"]),
    ]
    inits = [helper.make_tensor("threshold", FLOAT, [], [0.0]), helper.make_tensor("half", FLOAT, [], [0.5]),
             helper.make_tensor("zero", INT64, [], [0]), helper.make_tensor("zero1", INT64, [1], [0])]
    return make_model(nodes, [helper.make_tensor_value_info("x", FLOAT, ["N"])],
                      [helper.make_tensor_value_info("y", FLOAT, None)], inits, opset=13)


def test_if_returning_nothing_or_a_data_dependent_count_hybridizes_into_one_graph() -> None:
    model = _no_boxes_or_kept_model()
    rep = HybridizedBackend.prepare(model, "CPU")
    rng = np.random.default_rng(3)
    for x in (rng.standard_normal(9), -np.ones(4), rng.standard_normal(9), rng.uniform(0, 1, 30)):
        x = x.astype(np.float32)
        _assert_same(list(rep.run([x])), reference_outputs(model, {"x": x}))
    assert not rep.block.is_shape_specialized, rep.block.specialization_reason
