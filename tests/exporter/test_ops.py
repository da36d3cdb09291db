"""Operator translations the model tests do not reach, checked op by op at opset 13 and at the
newest opset: MXNet's outputs vs. onnxruntime on the exported symbol."""

from __future__ import annotations

from collections.abc import Callable

import mxnet as mx
import numpy as np
import pytest

from gluon_onnx.exporter import export_symbol
from gluon_onnx.exporter.export import run_symbol
from gluon_onnx.verify import run_onnxruntime

from .util import assert_close

_VARS: dict[str, mx.sym.Symbol] = {}


def V(name: str) -> mx.sym.Symbol:  # noqa: N802
    """One variable per name within a case (MXNet cannot bind two variables of the same name)."""
    if name not in _VARS:
        _VARS[name] = mx.sym.var(name)
    return _VARS[name]


RNG = np.random.RandomState(7)


def r(*shape: int, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    return RNG.uniform(low, high, shape).astype(np.float32)


def ints(*shape: int, low: int = 0, high: int = 5, dtype: str = "float32") -> np.ndarray:
    return RNG.randint(low, high, shape).astype(dtype)


class Case:
    def __init__(self, build: Callable, inputs: dict, params: dict | None = None, *, dynamic: dict | None = None,
                 rtol: float = 1e-5, opsets: tuple = (13, None)):
        self.build, self.inputs, self.params = build, inputs, params or {}
        self.dynamic, self.rtol, self.opsets = dynamic, rtol, opsets


def _boxes(n: int, classes: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.RandomState(seed)
    xy = rng.uniform(0, 20, (n, 2))
    wh = rng.uniform(2, 10, (n, 2))
    ids = rng.randint(0, classes, (n, 1))
    scores = rng.permutation(n).reshape(n, 1) / n + 0.005  # distinct scores
    return np.concatenate([ids, scores, xy, xy + wh], axis=1).astype(np.float32)


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)


def _anchors(n: int) -> np.ndarray:
    rng = np.random.RandomState(3)
    corner = rng.uniform(0.0, 0.7, (n, 2))
    return np.concatenate([corner, corner + rng.uniform(0.1, 0.3, (n, 2))], axis=1)[None].astype(np.float32)


CASES = {
    # --- pooling / convolution ---
    "pool_avg_full_exclude_pad": Case(lambda: mx.sym.Pooling(V("x"), kernel=(3, 3), stride=(2, 2), pad=(1, 1),
                                                               pool_type="avg", pooling_convention="full",
                                                               count_include_pad=False), {"x": r(1, 2, 8, 8)}),
    "pool_avg_full_include_pad": Case(lambda: mx.sym.Pooling(V("x"), kernel=(3, 3), stride=(2, 2), pad=(1, 1),
                                                               pool_type="avg", pooling_convention="full"),
                                      {"x": r(1, 2, 7, 7)}),
    "pool_max_full": Case(lambda: mx.sym.Pooling(V("x"), kernel=(3, 3), stride=(2, 2), pool_type="max",
                                                   pooling_convention="full"), {"x": r(2, 2, 8, 8)},
                          dynamic={"x": [0]}),
    "pool_sum": Case(lambda: mx.sym.Pooling(V("x"), kernel=(2, 2), stride=(2, 2), pool_type="sum"),
                     {"x": r(1, 2, 6, 6)}),
    "pool_lp": Case(lambda: mx.sym.Pooling(V("x"), kernel=(2, 2), stride=(2, 2), pool_type="lp", p_value=2),
                    {"x": r(1, 2, 6, 6)}),
    "pool_global_max": Case(lambda: mx.sym.Pooling(V("x"), kernel=(1, 1), global_pool=True, pool_type="max"),
                            {"x": r(2, 3, 5, 4)}),
    "pool_global_sum": Case(lambda: mx.sym.Pooling(V("x"), kernel=(1, 1), global_pool=True, pool_type="sum"),
                            {"x": r(2, 3, 5, 4)}),
    "pool_1d": Case(lambda: mx.sym.Pooling(V("x"), kernel=(3,), stride=(2,), pool_type="max"), {"x": r(1, 2, 9)}),
    "conv_1d_dilated": Case(lambda: mx.sym.Convolution(V("x"), V("w"), V("b"), kernel=(3,), dilate=(2,), pad=(2,),
                                                         num_filter=4), {"x": r(2, 3, 10)},
                            {"w": r(4, 3, 3), "b": r(4)}),
    "conv_3d": Case(lambda: mx.sym.Convolution(V("x"), V("w"), kernel=(3, 3, 3), pad=(1, 1, 1), num_filter=2,
                                                 no_bias=True), {"x": r(1, 2, 4, 5, 5)}, {"w": r(2, 2, 3, 3, 3)}),
    "conv_grouped": Case(lambda: mx.sym.Convolution(V("x"), V("w"), kernel=(3, 3), num_group=2, stride=(2, 2),
                                                      num_filter=4, no_bias=True), {"x": r(1, 4, 9, 9)},
                         {"w": r(4, 2, 3, 3)}),
    "deconv_adj_bias": Case(lambda: mx.sym.Deconvolution(V("x"), V("w"), V("b"), kernel=(3, 3), stride=(2, 2),
                                                           pad=(1, 1), adj=(1, 1), num_filter=4, no_bias=False),
                            {"x": r(1, 2, 5, 5)}, {"w": r(2, 4, 3, 3), "b": r(4)}),
    "deconv_grouped": Case(lambda: mx.sym.Deconvolution(V("x"), V("w"), kernel=(4, 4), stride=(2, 2), pad=(1, 1),
                                                          num_filter=4, num_group=2), {"x": r(1, 4, 5, 5)},
                           {"w": r(4, 2, 4, 4)}),
    "adaptive_pool_uneven": Case(lambda: mx.sym.contrib.AdaptiveAvgPooling2D(V("x"), output_size=(3, 3)),
                                 {"x": r(2, 3, 8, 8)}, dynamic={"x": [0]}),
    "adaptive_pool_divisible": Case(lambda: mx.sym.contrib.AdaptiveAvgPooling2D(V("x"), output_size=(2, 4)),
                                    {"x": r(2, 3, 8, 8)}),
    "adaptive_pool_global": Case(lambda: mx.sym.contrib.AdaptiveAvgPooling2D(V("x"), output_size=1),
                                 {"x": r(2, 3, 5, 7)}),
    # --- normalization ---
    "batchnorm_fix_gamma": Case(lambda: mx.sym.BatchNorm(V("x"), V("g"), V("b"), V("m"), V("v"), fix_gamma=True,
                                                           eps=1e-3), {"x": r(2, 3, 4, 4)},
                                {"g": r(3, low=2, high=3), "b": r(3), "m": r(3), "v": r(3, low=0.5, high=2)}),
    "batchnorm_last_axis": Case(lambda: mx.sym.BatchNorm(V("x"), V("g"), V("b"), V("m"), V("v"), fix_gamma=False,
                                                           axis=-1), {"x": r(2, 5, 3)},
                                {"g": r(3), "b": r(3), "m": r(3), "v": r(3, low=0.5, high=2)}),
    "layernorm_middle_axis": Case(lambda: mx.sym.LayerNorm(V("x"), V("g"), V("b"), axis=1, eps=1e-5),
                                  {"x": r(2, 4, 3)}, {"g": r(4), "b": r(4)}, opsets=(13, 17, None)),
    "layernorm_last_axis": Case(lambda: mx.sym.LayerNorm(V("x"), V("g"), V("b")), {"x": r(2, 3, 6)},
                                {"g": r(6), "b": r(6)}, opsets=(13, 17)),
    "instancenorm": Case(lambda: mx.sym.InstanceNorm(V("x"), V("g"), V("b"), eps=1e-3), {"x": r(2, 3, 4, 5)},
                         {"g": r(3), "b": r(3)}),
    "groupnorm": Case(lambda: mx.sym.GroupNorm(V("x"), V("g"), V("b"), num_groups=2), {"x": r(2, 6, 3, 3)},
                      {"g": r(2), "b": r(2)}, dynamic={"x": [0, 2, 3]}),
    "l2norm_instance": Case(lambda: mx.sym.L2Normalization(V("x"), mode="instance"), {"x": r(2, 3, 4)}),
    "l2norm_channel": Case(lambda: mx.sym.L2Normalization(V("x"), mode="channel"), {"x": r(2, 3, 4, 4)}),
    "l2norm_spatial": Case(lambda: mx.sym.L2Normalization(V("x"), mode="spatial"), {"x": r(2, 3, 4, 4)}),
    "lrn": Case(lambda: mx.sym.LRN(V("x"), nsize=3, alpha=1e-3, beta=0.75, knorm=2), {"x": r(1, 5, 4, 4)}),
    # --- dense / activations / softmax ---
    "fc_no_flatten_3d": Case(lambda: mx.sym.FullyConnected(V("x"), V("w"), num_hidden=4, flatten=False,
                                                             no_bias=True), {"x": r(2, 3, 5)}, {"w": r(4, 5)},
                             dynamic={"x": [0, 1]}),
    "fc_flatten_4d": Case(lambda: mx.sym.FullyConnected(V("x"), V("w"), V("b"), num_hidden=4),
                          {"x": r(2, 2, 2, 3)}, {"w": r(4, 12), "b": r(4)}),
    "prelu": Case(lambda: mx.sym.LeakyReLU(V("x"), V("g"), act_type="prelu"), {"x": r(2, 3, 4, 4)}, {"g": r(3)}),
    "elu": Case(lambda: mx.sym.LeakyReLU(V("x"), act_type="elu", slope=0.7), {"x": r(2, 3)}),
    "selu": Case(lambda: mx.sym.LeakyReLU(V("x"), act_type="selu"), {"x": r(2, 3)}),
    "gelu": Case(lambda: mx.sym.LeakyReLU(V("x"), act_type="gelu"), {"x": r(2, 3)}, opsets=(13, 20)),
    "rrelu_inference": Case(lambda: mx.sym.LeakyReLU(V("x"), act_type="rrelu")[0], {"x": r(2, 3)}),
    "softrelu": Case(lambda: mx.sym.Activation(V("x"), act_type="softrelu"), {"x": r(2, 3)}),
    "softsign": Case(lambda: mx.sym.Activation(V("x"), act_type="softsign"), {"x": r(2, 3)}),
    "softmax_temperature_axis1": Case(lambda: mx.sym.softmax(V("x"), axis=1, temperature=2.5), {"x": r(2, 3, 4)}),
    "softmax_use_length": Case(lambda: mx.sym.softmax(V("x"), V("len"), axis=-1, use_length=True),
                               {"x": r(2, 5), "len": np.array([3, 5], np.int32)}),
    "log_softmax": Case(lambda: mx.sym.log_softmax(V("x"), axis=0), {"x": r(3, 4)}),
    # 4-D inputs differ between MXNet's oneDNN kernel (last axis) and its reference kernel (flattened)
    "softmax_output_default_3d": Case(lambda: mx.sym.SoftmaxOutput(V("x"), V("label")),
                                      {"x": r(2, 3, 4), "label": ints(2, 3, high=3)}),
    "softmax_output_multi": Case(lambda: mx.sym.SoftmaxOutput(V("x"), V("label"), multi_output=True),
                                 {"x": r(2, 3, 2, 2), "label": ints(2, 2, 2, high=3)}),
    "softmax_output_preserve": Case(lambda: mx.sym.SoftmaxOutput(V("x"), V("label"), preserve_shape=True),
                                    {"x": r(2, 3, 4), "label": ints(2, 3, high=4)}),
    "softmax_activation_channel": Case(lambda: mx.sym.SoftmaxActivation(V("x"), mode="channel"),
                                       {"x": r(2, 3, 2, 2)}),
    "softmax_activation_instance": Case(lambda: mx.sym.SoftmaxActivation(V("x")), {"x": r(2, 3, 2, 2)}),
    "embedding": Case(lambda: mx.sym.Embedding(V("i"), V("w"), input_dim=6, output_dim=3),
                      {"i": ints(2, 4, high=6)}, {"w": r(6, 3)}),
    # --- resizing / padding ---
    "upsampling_nearest": Case(lambda: mx.sym.UpSampling(V("x"), scale=2, sample_type="nearest"),
                               {"x": r(1, 2, 3, 4)}, dynamic={"x": [0, 2, 3]}),
    "upsampling_bilinear": Case(lambda: mx.sym.UpSampling(V("x"), V("w"), scale=2, sample_type="bilinear",
                                                          num_filter=2), {"x": r(1, 2, 3, 3)}, {"w": r(2, 1, 4, 4)}),
    "bilinear_resize_align": Case(lambda: mx.sym.contrib.BilinearResize2D(V("x"), height=7, width=5),
                                  {"x": r(2, 2, 4, 3)}, dynamic={"x": [0]}),
    "bilinear_resize_half_pixel": Case(lambda: mx.sym.contrib.BilinearResize2D(V("x"), height=9, width=6,
                                                                               align_corners=False),
                                       {"x": r(1, 2, 4, 3)}),
    "bilinear_resize_scale_dynamic": Case(lambda: mx.sym.contrib.BilinearResize2D(V("x"), scale_height=2.0,
                                                                                  scale_width=1.5),
                                          {"x": r(1, 2, 4, 4)}, dynamic={"x": [2, 3]}),
    "bilinear_resize_like": Case(lambda: mx.sym.contrib.BilinearResize2D(V("x"), V("y"), mode="like"),
                                 {"x": r(1, 2, 4, 4), "y": r(1, 1, 6, 5)}),
    "pad_constant": Case(lambda: mx.sym.Pad(V("x"), mode="constant", constant_value=1.5,
                                            pad_width=(0, 0, 0, 0, 1, 2, 2, 1)), {"x": r(1, 2, 3, 3)}),
    "pad_edge": Case(lambda: mx.sym.Pad(V("x"), mode="edge", pad_width=(0, 0, 0, 0, 1, 1, 2, 2)),
                     {"x": r(1, 2, 3, 3)}),
    "pad_reflect": Case(lambda: mx.sym.Pad(V("x"), mode="reflect", pad_width=(0, 0, 0, 0, 1, 1, 2, 2)),
                        {"x": r(1, 2, 3, 3)}),
    # --- reshape family ---
    "reshape_0_m1": Case(lambda: mx.sym.reshape(V("x"), shape=(0, -1)), {"x": r(2, 3, 4, 5)}, dynamic={"x": [0]}),
    "reshape_m2": Case(lambda: mx.sym.reshape(V("x"), shape=(-1, -2)), {"x": r(2, 3, 4, 5)}),
    "reshape_m3_m2_dynamic": Case(lambda: mx.sym.reshape(V("x"), shape=(-3, -2)), {"x": r(2, 3, 4, 5)},
                                  dynamic={"x": [0, 2]}),
    "reshape_m4_dynamic": Case(lambda: mx.sym.reshape(V("x"), shape=(0, -4, 3, -1, -2)), {"x": r(2, 6, 4, 5)},
                               dynamic={"x": [0, 3]}),
    "reshape_m4_m1_first": Case(lambda: mx.sym.reshape(V("x"), shape=(-4, -1, 2, -2)), {"x": r(4, 3, 5)},
                                dynamic={"x": [0, 2]}),
    "reshape_reverse": Case(lambda: mx.sym.reshape(V("x"), shape=(-1, 0), reverse=True), {"x": r(2, 3, 4)},
                            dynamic={"x": [0, 2]}),
    "reshape_like": Case(lambda: mx.sym.reshape_like(V("x"), V("y")), {"x": r(2, 6), "y": r(3, 4)}),
    "transpose_default": Case(lambda: mx.sym.transpose(V("x")), {"x": r(2, 3, 4)}),
    "swapaxis": Case(lambda: mx.sym.SwapAxis(V("x"), dim1=0, dim2=2), {"x": r(2, 3, 4)}),
    "expand_dims_negative": Case(lambda: mx.sym.expand_dims(V("x"), axis=-1), {"x": r(2, 3)}),
    "squeeze_all": Case(lambda: mx.sym.squeeze(V("x")), {"x": r(1, 3, 1, 2)}),
    "squeeze_axis": Case(lambda: mx.sym.squeeze(V("x"), axis=(2,)), {"x": r(2, 3, 1, 2)}, dynamic={"x": [0]}),
    "flatten": Case(lambda: mx.sym.flatten(V("x")), {"x": r(2, 3, 4)}, dynamic={"x": [0]}),
    "stack": Case(lambda: mx.sym.stack(V("x"), V("y"), axis=1), {"x": r(2, 3), "y": r(2, 3)}),
    "concat_negative_dim": Case(lambda: mx.sym.concat(V("x"), V("y"), dim=-1), {"x": r(2, 3), "y": r(2, 2)}),
    # --- slicing / splitting ---
    "slice_negative_step": Case(lambda: mx.sym.slice(V("x"), begin=(None, 3), end=(None, 0), step=(1, -1)),
                                {"x": r(2, 5)}),
    "slice_none_end": Case(lambda: mx.sym.slice(V("x"), begin=(1, None), end=(None, -1)), {"x": r(3, 5)}),
    "slice_axis_none_end": Case(lambda: mx.sym.slice_axis(V("x"), axis=1, begin=1, end=None), {"x": r(2, 5)}),
    "slice_like_dynamic": Case(lambda: mx.sym.slice_like(V("x"), V("y"), axes=(1,)),
                               {"x": r(2, 12, 3), "y": r(2, 4, 1)}, dynamic={"y": [1]}),
    "split_squeeze": Case(lambda: mx.sym.Group(list(mx.sym.split(V("x"), num_outputs=3, axis=1, squeeze_axis=True))),
                          {"x": r(2, 3, 4)}, opsets=(13, 18)),
    "split_v2_indices": Case(lambda: mx.sym.Group(list(mx.sym.split_v2(V("x"), indices_or_sections=(1, 3),
                                                                        axis=1))), {"x": r(2, 5)}),
    "split_v2_sections": Case(lambda: mx.sym.Group(list(mx.sym.split_v2(V("x"), indices_or_sections=2, axis=0))),
                              {"x": r(4, 3)}),
    "reverse_axes": Case(lambda: mx.sym.reverse(V("x"), axis=(0, 2)), {"x": r(2, 3, 4)}),
    # --- repetition / broadcasting ---
    "tile_short_reps": Case(lambda: mx.sym.tile(V("x"), reps=(2,)), {"x": r(2, 3)}),
    "tile_long_reps": Case(lambda: mx.sym.tile(V("x"), reps=(2, 1, 3)), {"x": r(2, 3)}),
    "repeat_axis": Case(lambda: mx.sym.repeat(V("x"), repeats=3, axis=1), {"x": r(2, 3, 2)}, dynamic={"x": [0, 2]}),
    "repeat_flat": Case(lambda: mx.sym.repeat(V("x"), repeats=2), {"x": r(2, 3)}),
    "broadcast_to_keep": Case(lambda: mx.sym.broadcast_to(V("x"), shape=(0, 4, 3)), {"x": r(2, 1, 3)}),
    "broadcast_like_axes": Case(lambda: mx.sym.broadcast_like(V("x"), V("y"), lhs_axes=(1,), rhs_axes=(0,)),
                                {"x": r(2, 1), "y": r(5, 3)}),
    "broadcast_axis": Case(lambda: mx.sym.broadcast_axis(V("x"), axis=1, size=4), {"x": r(2, 1, 3)}),
    # --- creation / shape ---
    "zeros_ones_like": Case(lambda: mx.sym.Group([mx.sym.zeros_like(V("x")), mx.sym.ones_like(V("x"))]),
                            {"x": r(2, 3)}, dynamic={"x": [0]}),
    "arange_repeat": Case(lambda: V("x") + mx.sym.arange(start=2, stop=8, step=1.5, repeat=2), {"x": r(8)}),
    "arange_like_axis": Case(lambda: mx.sym.contrib.arange_like(V("x"), start=1.0, step=0.5, axis=1),
                             {"x": r(2, 5)}, dynamic={"x": [1]}),
    "arange_like_all_repeat": Case(lambda: mx.sym.contrib.arange_like(V("x"), repeat=2), {"x": r(2, 3)},
                                   dynamic={"x": [0]}),
    "shape_size_array": Case(lambda: mx.sym.Group([mx.sym.shape_array(V("x")), mx.sym.size_array(V("x"))]),
                             {"x": r(2, 3)}, dynamic={"x": [0]}),
    "cast_int": Case(lambda: mx.sym.Cast(V("x") * 10, dtype="int32"), {"x": r(2, 3)}),
    "where_1d_condition": Case(lambda: mx.sym.where(V("c"), V("x"), V("y")),
                               {"c": np.array([1, 0, 1], np.float32), "x": r(3, 2), "y": r(3, 2)}),
    # --- indexing ---
    "take_clip": Case(lambda: mx.sym.take(V("x"), V("i"), axis=1), {"x": r(2, 4), "i": np.array([-1, 0, 5, 2],
                                                                                                 np.float32)}),
    "take_wrap": Case(lambda: mx.sym.take(V("x"), V("i"), axis=0, mode="wrap"),
                      {"x": r(3, 2), "i": np.array([[4, -1], [0, 2]], np.float32)}),
    "pick_keepdims": Case(lambda: mx.sym.pick(V("x"), V("i"), axis=1, keepdims=True),
                          {"x": r(3, 4), "i": np.array([0, 3, 1], np.float32)}),
    "gather_nd": Case(lambda: mx.sym.gather_nd(V("x"), V("i")),
                      {"x": r(3, 4, 2), "i": np.array([[0, 2, 1], [3, 0, 1]], np.float32)}),
    "one_hot": Case(lambda: mx.sym.one_hot(V("i"), depth=4, on_value=2.0, off_value=-1.0),
                    {"i": np.array([0, 3, 1], np.float32)}),
    "sequence_mask_axis0": Case(lambda: mx.sym.SequenceMask(V("x"), V("l"), use_sequence_length=True, value=-2.0),
                                {"x": r(4, 2, 3), "l": np.array([2, 4], np.float32)}),
    "sequence_mask_axis1": Case(lambda: mx.sym.SequenceMask(V("x"), V("l"), use_sequence_length=True, axis=1),
                                {"x": r(2, 4, 3), "l": np.array([1, 3], np.float32)}),
    # --- sorting ---
    "topk_both_ascend": Case(lambda: mx.sym.Group(list(mx.sym.topk(V("x"), k=2, ret_typ="both", is_ascend=True))),
                             {"x": r(3, 5)}),
    "topk_indices_axis0": Case(lambda: mx.sym.topk(V("x"), k=2, axis=0), {"x": r(3, 5)}),
    "topk_mask": Case(lambda: mx.sym.topk(V("x"), k=2, ret_typ="mask"), {"x": r(3, 5)}),
    "topk_value_all": Case(lambda: mx.sym.topk(V("x"), k=0, ret_typ="value"), {"x": r(3, 5)}),
    "argsort_descending": Case(lambda: mx.sym.argsort(V("x"), is_ascend=False), {"x": r(3, 5)}),
    "sort": Case(lambda: mx.sym.sort(V("x"), axis=0), {"x": r(3, 5)}),
    "argmax_flat": Case(lambda: mx.sym.argmax(V("x")), {"x": r(3, 5)}),
    "argmin_keepdims": Case(lambda: mx.sym.argmin(V("x"), axis=1, keepdims=True), {"x": r(3, 5)}),
    # --- reductions ---
    "sum_axes_keepdims": Case(lambda: mx.sym.sum(V("x"), axis=(0, 2), keepdims=True), {"x": r(2, 3, 4)},
                              opsets=(13, 18)),
    "mean_exclude": Case(lambda: mx.sym.mean(V("x"), axis=1, exclude=True), {"x": r(2, 3, 4)}, opsets=(13, 18)),
    "max_min_prod": Case(lambda: mx.sym.Group([mx.sym.max(V("x"), axis=1), mx.sym.min(V("x"), axis=0),
                                               mx.sym.prod(V("x"), axis=-1)]), {"x": r(2, 3, 4)}, opsets=(13, 18)),
    "sum_all_is_1d": Case(lambda: mx.sym.sum(V("x")), {"x": r(2, 3)}),
    "norm_l1_l2": Case(lambda: mx.sym.Group([mx.sym.norm(V("x"), ord=1, axis=1), mx.sym.norm(V("x"), axis=(0, 1))]),
                       {"x": r(2, 3, 4)}, opsets=(13, 18)),
    "nansum": Case(lambda: mx.sym.nansum(V("x"), axis=1), {"x": np.array([[1, np.nan, 2], [np.nan, 3, 4]],
                                                                          np.float32)}),
    # --- products ---
    "dot_transposed": Case(lambda: mx.sym.dot(V("a"), V("b"), transpose_a=True, transpose_b=True),
                           {"a": r(3, 2), "b": r(4, 3)}),
    "dot_nd": Case(lambda: mx.sym.dot(V("a"), V("b")), {"a": r(2, 3, 4), "b": r(4, 2, 5)}, dynamic={"a": [0, 1]}),
    "batch_dot_transpose_a": Case(lambda: mx.sym.batch_dot(V("a"), V("b"), transpose_a=True),
                                  {"a": r(2, 3, 4), "b": r(2, 3, 5)}),
    "linalg_gemm2": Case(lambda: mx.sym.linalg.gemm2(V("a"), V("b"), transpose_b=True, alpha=2.0),
                         {"a": r(2, 3, 4), "b": r(2, 5, 4)}),
    # --- element-wise ---
    "mod_python_sign": Case(lambda: mx.sym.broadcast_mod(V("a"), V("b")),
                            {"a": np.array([5.5, -5.5, 5.5, -5.5, 3.0], np.float32),
                             "b": np.array([2.0, 2.0, -2.0, -2.0, 1.5], np.float32)}),
    "mod_int": Case(lambda: mx.sym.broadcast_mod(V("a"), V("b")),
                    {"a": np.array([7, -7, 7, -7], np.int32), "b": np.array([3, 3, -3, -3], np.int32)}),
    "mod_scalar": Case(lambda: V("a") % 1.5, {"a": np.array([-4.0, -1.0, 0.0, 2.0, 3.5], np.float32)}),
    "rmod_scalar": Case(lambda: 5.0 % V("a"), {"a": np.array([-4.0, -1.5, 2.0, 3.0], np.float32)}),
    "comparisons": Case(lambda: mx.sym.Group([V("a") > V("b"), V("a") <= V("b"), V("a") == V("b"),
                                              V("a") != V("b"), V("a") >= 0.5, V("a") < 0.0, V("a") != 0.2]),
                        {"a": np.array([0.2, 0.5, -1.0, 2.0], np.float32), "b": np.array([0.2, 1.0, -2.0, 2.0],
                                                                                          np.float32)}),
    "logical": Case(lambda: mx.sym.Group([mx.sym.broadcast_logical_and(V("a"), V("b")),
                                          mx.sym.broadcast_logical_or(V("a"), V("b")),
                                          mx.sym.broadcast_logical_xor(V("a"), V("b")),
                                          mx.sym.logical_not(V("a"))]),
                    {"a": np.array([0, 1, 2, 0], np.float32), "b": np.array([0, 0, 3, 1], np.float32)}),
    "scalar_arithmetic": Case(lambda: mx.sym.Group([3.0 - V("a"), 2.0 / V("a"), V("a") ** 2, 2.0 ** V("a"),
                                                    mx.sym.maximum(V("a"), 0.5), mx.sym.minimum(V("a"), 0.5)]),
                              {"a": r(2, 3, low=0.5, high=2.0)}),
    "binary_broadcast": Case(lambda: mx.sym.Group([mx.sym.broadcast_power(V("a"), V("b")),
                                                   mx.sym.broadcast_maximum(V("a"), V("b")),
                                                   mx.sym.broadcast_minimum(V("a"), V("b")),
                                                   mx.sym.broadcast_hypot(V("a"), V("b"))]),
                             {"a": r(2, 3, low=0.5, high=2), "b": r(3, low=0.5, high=2)}),
    "rounding": Case(lambda: mx.sym.Group([mx.sym.round(V("a")), mx.sym.rint(V("a")), mx.sym.trunc(V("a")),
                                           mx.sym.fix(V("a")), mx.sym.floor(V("a")), mx.sym.ceil(V("a")),
                                           mx.sym.sign(V("a"))]),
                     {"a": np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 1.2, -1.7], np.float32)}),
    "unary_math": Case(lambda: mx.sym.Group([mx.sym.log1p(V("a")), mx.sym.expm1(V("a")), mx.sym.square(V("a")),
                                             mx.sym.rsqrt(V("a")), mx.sym.reciprocal(V("a")), mx.sym.erf(V("a")),
                                             mx.sym.log2(V("a")), mx.sym.log10(V("a")), mx.sym.abs(-V("a")),
                                             mx.sym.arctan(V("a")), mx.sym.cosh(V("a"))]),
                       {"a": r(2, 3, low=0.2, high=2)}),
    "clip_add_n": Case(lambda: mx.sym.add_n(mx.sym.clip(V("a"), -0.5, 0.3), V("a"), V("a")), {"a": r(2, 3)}),
    "smooth_l1_hard_sigmoid": Case(lambda: mx.sym.Group([mx.sym.smooth_l1(V("a"), scalar=2.0),
                                                         mx.sym.hard_sigmoid(V("a"), alpha=0.3, beta=0.4)]),
                                   {"a": r(2, 5, low=-2, high=2)}),
    "identity_family": Case(lambda: mx.sym.Group([mx.sym.BlockGrad(V("a")), mx.sym.stop_gradient(V("a") * 2),
                                                  mx.sym.identity(V("a")), mx.sym.Dropout(V("a"), p=0.5)]),
                            {"a": r(2, 3)}),
    # --- detection ---
    "box_nms_class_aware_topk": Case(lambda: mx.sym.contrib.box_nms(V("x"), overlap_thresh=0.3, valid_thresh=0.1,
                                                                    topk=12, id_index=0, score_index=1,
                                                                    coord_start=2), {"x": _boxes(30)[None]},
                                     dynamic={"x": [0]}),
    "box_nms_force_suppress": Case(lambda: mx.sym.contrib.box_nms(V("x"), overlap_thresh=0.3, id_index=0,
                                                                  force_suppress=True), {"x": _boxes(30)[None]}),
    "box_nms_background_2d": Case(lambda: mx.sym.contrib.box_nms(V("x"), overlap_thresh=0.3, id_index=0,
                                                                 background_id=1), {"x": _boxes(25)}),
    "box_nms_center_in_corner_out": Case(lambda: mx.sym.contrib.box_nms(V("x"), overlap_thresh=0.2, coord_start=2,
                                                                        score_index=1, in_format="center",
                                                                        out_format="corner"),
                                         {"x": _boxes(20, seed=1)[None]}),
    "box_nms_4d_no_ids": Case(lambda: mx.sym.contrib.box_nms(V("x"), overlap_thresh=0.3, score_index=0,
                                                             coord_start=1, valid_thresh=0.2),
                              {"x": np.stack([_boxes(15, seed=s)[:, 1:] for s in range(4)]).reshape(2, 2, 15, 5)}),
    "box_decode_corner_clip": Case(lambda: mx.sym.contrib.box_decode(V("d"), V("a"), 0.1, 0.1, 0.2, 0.2, clip=0.3,
                                                                     format="corner"),
                                   {"d": r(2, 6, 4, low=-3, high=3), "a": _boxes(6)[None, :, 2:]}),
    "box_decode_center": Case(lambda: mx.sym.contrib.box_decode(V("d"), V("a"), format="center"),
                              {"d": r(1, 6, 4), "a": np.abs(r(1, 6, 4)) + 1}),
    "roi_align": Case(lambda: mx.sym.contrib.ROIAlign(V("x"), V("rois"), pooled_size=(3, 3), spatial_scale=0.5,
                                                      sample_ratio=2),
                      {"x": r(2, 3, 10, 10), "rois": np.array([[0, 1, 1, 9, 7], [1, 0, 2, 15, 18], [0, 4, 4, 6, 5]],
                                                              np.float32)}, opsets=(13, 16, None)),
    "roi_align_adaptive": Case(lambda: mx.sym.contrib.ROIAlign(V("x"), V("rois"), pooled_size=(2, 2),
                                                               spatial_scale=1.0, sample_ratio=-1),
                               {"x": r(1, 2, 8, 8), "rois": np.array([[0, 0.5, 1, 6, 7.5]], np.float32)}),
    "roi_pooling": Case(lambda: mx.sym.ROIPooling(V("x"), V("rois"), pooled_size=(2, 2), spatial_scale=1.0),
                        {"x": r(1, 2, 6, 6), "rois": np.array([[0, 0, 0, 4, 4], [0, 1, 2, 5, 5]], np.float32)},
                        opsets=(13, 21)),
    "multibox_detection": Case(lambda: mx.sym.contrib.MultiBoxDetection(V("cls"), V("loc"), V("anchors"),
                                                                       threshold=0.2, nms_threshold=0.3),
                               {"cls": _softmax(RNG.normal(0, 2, (2, 4, 20)), 1), "loc": r(2, 80, low=-0.5, high=0.5),
                                "anchors": _anchors(20)}, dynamic={"cls": [0], "loc": [0]}),
    "multibox_detection_force_topk": Case(lambda: mx.sym.contrib.MultiBoxDetection(V("cls"), V("loc"), V("anchors"),
                                                                                   threshold=0.1, force_suppress=True,
                                                                                   nms_topk=30, clip=False),
                                          {"cls": _softmax(RNG.normal(0, 2, (1, 3, 20)), 1),
                                           "loc": r(1, 80, low=-0.5, high=0.5), "anchors": _anchors(20)}),
    "multibox_prior": Case(lambda: mx.sym.contrib.MultiBoxPrior(V("x"), sizes=(0.3, 0.5), ratios=(1, 2)),
                           {"x": r(1, 2, 4, 4)}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_op(name):
    case = CASES[name]
    _VARS.clear()
    sym = case.build()
    feeds = case.inputs
    params = {k: mx.nd.array(v, dtype=v.dtype) for k, v in case.params.items()}
    inputs = {k: mx.nd.array(v, dtype=v.dtype) for k, v in feeds.items()}
    expected = run_symbol(sym, params, inputs)
    for opset in case.opsets:
        model = export_symbol(sym, params, {k: v.shape for k, v in feeds.items()},
                              input_types={k: v.dtype for k, v in feeds.items()}, opset=opset,
                              dynamic_axes=case.dynamic)
        got = run_onnxruntime(model, feeds)
        assert_close(got, expected, rtol=case.rtol)
