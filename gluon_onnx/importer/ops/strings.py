"""String operators: StringNormalizer, StringConcat, StringSplit, RegexFullMatch,
TfIdfVectorizer, and ai.onnx.ml LabelEncoder.

MXNet arrays cannot hold strings. String tensors therefore stay numpy object arrays and these
converters run on the host in imperative mode only (a hybridized block raises
HybridizationError); numeric results become NDArrays again. TfIdfVectorizer and LabelEncoder
over numbers are plain MXNet graphs and hybridize.
"""

from __future__ import annotations

import re

import mxnet as mx
import numpy as np

from ...dtypes import to_storage
from ..context import NodeContext
from ..registry import converter
from ._helpers import broadcast_shape


def _host_strings(cx: NodeContext, value: object) -> np.ndarray:
    """A string input as a numpy object array (imperative runs only)."""
    if cx.symbolic or not isinstance(value, np.ndarray):
        raise cx.not_hybridizable("string tensors cannot be held by MXNet graphs")
    return value.astype(object)


def _to_device(cx: NodeContext, array: np.ndarray) -> object:
    value = to_storage(np.asarray(array))
    return mx.nd.array(value, dtype=value.dtype, ctx=cx.ctx)


@converter("StringConcat", since=20)
def string_concat(cx: NodeContext, x: object, y: object) -> object:
    left, right = _host_strings(cx, x), _host_strings(cx, y)
    broadcast_shape(left.shape, right.shape)
    return np.char.add(left.astype(str), right.astype(str)).astype(object)


@converter("RegexFullMatch", since=20)
def regex_full_match(cx: NodeContext, x: object, *, pattern: str = "") -> object:
    strings = _host_strings(cx, x)
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise cx.fail(f"invalid regular expression {pattern!r}: {exc}") from None
    matches = np.array([regex.fullmatch(s) is not None for s in strings.reshape(-1)], dtype=bool)
    return _to_device(cx, matches.reshape(strings.shape))


@converter("StringSplit", since=20)
def string_split(cx: NodeContext, x: object, *, delimiter: str = "", maxsplit: int | None = None) -> object:
    strings = _host_strings(cx, x)
    separator = delimiter or None  # empty/absent: runs of whitespace, like str.split()
    limit = -1 if maxsplit is None else int(maxsplit)
    pieces = [s.split(separator, limit) for s in strings.reshape(-1)]
    counts = np.array([len(p) for p in pieces], dtype=np.int64).reshape(strings.shape)
    width = int(counts.max(initial=0))
    out = np.full((len(pieces), width), "", dtype=object)
    for row, parts in enumerate(pieces):
        out[row, : len(parts)] = parts
    return out.reshape(*strings.shape, width), _to_device(cx, counts)


@converter("StringNormalizer", since=10)
def string_normalizer(cx: NodeContext, x: object, *, case_change_action: str = "NONE", is_case_sensitive: int = 0,
                      locale: str = "", stopwords: list[str] | None = None) -> object:
    strings = _host_strings(cx, x)
    if strings.ndim not in (1, 2) or (strings.ndim == 2 and strings.shape[0] != 1):
        raise cx.fail(f"StringNormalizer takes a [C] or [1, C] input, got shape {strings.shape}")
    values = [str(s) for s in strings.reshape(-1)]
    if stopwords:
        if is_case_sensitive:
            stops = set(stopwords)
            values = [s for s in values if s not in stops]
        else:
            stops = {w.lower() for w in stopwords}
            values = [s for s in values if s.lower() not in stops]
    if case_change_action == "LOWER":
        values = [s.lower() for s in values]
    elif case_change_action == "UPPER":
        values = [s.upper() for s in values]
    elif case_change_action != "NONE":
        raise cx.fail(f"unknown case_change_action {case_change_action!r}")
    if not values:
        values = [""]  # everything removed: one empty string
    out = np.array(values, dtype=object)
    return out.reshape(1, -1) if strings.ndim == 2 else out


# --- TfIdfVectorizer --------------------------------------------------------------------------


def _pool_ngrams(pool: list, ngram_counts: list[int], min_gram: int, max_gram: int) -> dict[int, list[tuple]]:
    """Pool n-grams by size within [min_gram, max_gram]: size -> [(tokens, ngram id), ...]."""
    grams: dict[int, list[tuple]] = {}
    ngram_id = 0
    for size_index, start in enumerate(ngram_counts):
        size = size_index + 1
        end = ngram_counts[size_index + 1] if size_index + 1 < len(ngram_counts) else len(pool)
        for offset in range(start, end - size + 1, size):
            if min_gram <= size <= max_gram:
                grams.setdefault(size, []).append((tuple(pool[offset:offset + size]), ngram_id))
            ngram_id += 1
    return grams


@converter("TfIdfVectorizer", since=9)
def tfidf_vectorizer(cx: NodeContext, x: object, *, max_gram_length: int = 1, max_skip_count: int = 0,
                     min_gram_length: int = 1, mode: str = "TF", ngram_counts: list[int] | None = None,
                     ngram_indexes: list[int] | None = None, pool_int64s: list[int] | None = None,
                     pool_strings: list[str] | None = None, weights: list[float] | None = None) -> object:
    F = cx.F
    pool = list(pool_strings) if pool_strings else list(pool_int64s or [])
    indexes = list(ngram_indexes or [])
    if not indexes:
        raise cx.fail("ngram_indexes is required")
    output_size = max(indexes) + 1
    grams = _pool_ngrams(pool, list(ngram_counts or [0]), min_gram_length, max_gram_length)
    vocabulary = sorted({token for entries in grams.values() for tokens, _ in entries for token in tokens}, key=str)
    token_index = {token: i for i, token in enumerate(vocabulary)}
    shape = cx.in_shape(0)
    if shape is None or len(shape) not in (1, 2):
        raise cx.fail("TfIdfVectorizer takes a [C] or [B, C] input")
    if pool_strings:
        strings = _host_strings(cx, x)
        ids = np.array([token_index.get(s, -1) for s in strings.reshape(-1)], dtype=np.float32)
        tokens = _to_device(cx, ids.reshape(strings.shape))
    else:
        # position of each input value in the vocabulary (-1 when absent), as an MXNet graph
        equal = F.broadcast_equal(F.expand_dims(F.Cast(x, dtype="float64"), axis=-1),
                                  cx.const(np.array(vocabulary, dtype=np.float64).reshape((1,) * len(shape) + (-1,))))
        positions = F.sum(F.broadcast_mul(equal, cx.const(np.arange(1, len(vocabulary) + 1, dtype=np.float64))),
                          axis=-1)
        tokens = F.Cast(positions, dtype="float32") - 1.0
    rows = tokens if len(shape) == 2 else F.expand_dims(tokens, axis=0)
    length = shape[-1] if isinstance(shape[-1], int) else cx.concrete([shape[-1]])[0]
    one_hot = F.one_hot(rows, depth=max(len(vocabulary), 1))  # (B, C, V); -1 gives all zeros
    counts = []
    targets = []
    for size, entries in sorted(grams.items()):
        distances = range(1, max_skip_count + 2) if size > 1 else (1,)
        columns = [F.take(one_hot, cx.const(np.array([token_index[t[j]] for t, _ in entries], np.float32)), axis=2)
                   for j in range(size)]
        total = None
        for d in distances:
            span = (size - 1) * d
            if span >= length:
                continue
            product = None
            for j, column in enumerate(columns):
                end = j * d - span
                part = F.slice_axis(column, axis=1, begin=j * d, end=end if end != 0 else None)
                product = part if product is None else product * part
            found = F.sum(product, axis=1)
            total = found if total is None else total + found
        if total is None:
            continue
        counts.append(total)
        targets.extend(indexes[gram_id] for _, gram_id in entries)
    batch_like = F.sum(F.zeros_like(F.slice_axis(one_hot, axis=1, begin=0, end=1)), axis=(1, 2))  # (B,)
    if counts:
        scatter = np.zeros((len(targets), output_size), np.float32)
        scatter[np.arange(len(targets)), targets] = 1.0
        frequencies = F.dot(F.concat(*counts, dim=1) if len(counts) > 1 else counts[0], cx.const(scatter))
    else:
        frequencies = F.broadcast_add(F.expand_dims(batch_like, axis=1),
                                      cx.const(np.zeros((1, output_size), np.float32)))
    weight_row = cx.const(np.asarray(weights, np.float32).reshape(1, -1)) if weights else None
    if mode == "TF":
        result = frequencies
    elif mode == "IDF":
        present = frequencies > 0
        result = F.broadcast_mul(present, weight_row) if weight_row is not None else present
    elif mode == "TFIDF":
        result = F.broadcast_mul(frequencies, weight_row) if weight_row is not None else frequencies
    else:
        raise cx.fail(f"unknown mode {mode!r}")
    return result if len(shape) == 2 else F.reshape(result, shape=(-1,))


# --- ai.onnx.ml LabelEncoder --------------------------------------------------------------------


def _label_table(cx: NodeContext, attrs: dict) -> tuple[np.ndarray, np.ndarray, object]:
    """(keys, values, default) of a LabelEncoder from whichever attributes it uses."""
    keys = next((np.asarray(attrs[k]) for k in ("keys_tensor", "keys_strings", "keys_int64s", "keys_floats")
                 if attrs.get(k) is not None), None)
    values = next((np.asarray(attrs[k]) for k in ("values_tensor", "values_strings", "values_int64s",
                                                  "values_floats") if attrs.get(k) is not None), None)
    if keys is None or values is None or keys.size != values.size:
        raise cx.fail("LabelEncoder needs keys and values of the same length")
    out_dtype = cx.out_dtype(0)
    if attrs.get("default_tensor") is not None:
        default = np.asarray(attrs["default_tensor"]).reshape(-1)[0]
    elif out_dtype is not None and out_dtype.kind == "O":
        default = attrs.get("default_string", "_Unused")
    elif out_dtype is not None and out_dtype.kind == "f":
        default = attrs.get("default_float", -0.0)
    else:
        default = attrs.get("default_int64", -1)
    return keys.reshape(-1), values.reshape(-1), default


def _label_encode(cx: NodeContext, x: object, attrs: dict) -> object:
    F = cx.F
    keys, values, default = _label_table(cx, attrs)
    out_dtype = cx.out_dtype(0)
    string_in = keys.dtype.kind in "OSU"
    string_out = values.dtype.kind in "OSU" or (out_dtype is not None and out_dtype.kind == "O")
    if string_in or string_out:
        source = _host_strings(cx, x) if string_in else x.asnumpy() if not cx.symbolic else None
        if source is None:
            raise cx.not_hybridizable("string tensors cannot be held by MXNet graphs")
        table = {(str(k) if string_in else k.item()): v for k, v in zip(keys, values)}
        flat = [table.get(str(s) if string_in else s, default) for s in source.reshape(-1).tolist()]
        result = np.array(flat, dtype=object if string_out else out_dtype).reshape(source.shape)
        return result if string_out else _to_device(cx, result)
    # numbers -> numbers: match against the (small) key list with MXNet operators
    rank = cx.rank(0)
    key_row = cx.const(keys.astype(np.float64).reshape((1,) * rank + (-1,)))
    probe = F.expand_dims(F.Cast(x, dtype="float64"), axis=-1)
    equal = F.broadcast_equal(probe, key_row)
    if np.isnan(keys.astype(np.float64)).any():
        # a NaN key matches NaN inputs
        equal = equal + F.broadcast_mul(probe != probe, key_row != key_row)
    found = F.max(equal, axis=-1)
    position = F.argmax(equal, axis=-1)
    mapped = F.take(cx.const(to_storage(values.astype(out_dtype))), position)
    fallback = F.broadcast_like(F.reshape(cx.const(to_storage(np.array([default], dtype=out_dtype))),
                                          shape=(1,) * rank), mapped)
    return F.where(found, mapped, fallback)


@converter("LabelEncoder", since=1, domain="ai.onnx.ml")
def label_encoder_v1(cx: NodeContext, x: object, *, classes_strings: list[str] | None = None,
                     default_int64: int = -1, default_string: str = "_Unused") -> object:
    classes = list(classes_strings or [])
    if cx.in_dtype(0) == np.dtype(object):
        attrs = {"keys_strings": classes, "values_int64s": list(range(len(classes))), "default_int64": default_int64}
    else:
        attrs = {"keys_int64s": list(range(len(classes))), "values_strings": classes,
                 "default_string": default_string}
    return _label_encode(cx, x, attrs)


@converter("LabelEncoder", since=2, domain="ai.onnx.ml")
@converter("LabelEncoder", since=4, domain="ai.onnx.ml")
def label_encoder(cx: NodeContext, x: object, *, keys_strings: list[str] | None = None,
                  keys_int64s: list[int] | None = None, keys_floats: list[float] | None = None,
                  keys_tensor: np.ndarray | None = None, values_strings: list[str] | None = None,
                  values_int64s: list[int] | None = None, values_floats: list[float] | None = None,
                  values_tensor: np.ndarray | None = None, default_string: str = "_Unused",
                  default_int64: int = -1, default_float: float = -0.0,
                  default_tensor: np.ndarray | None = None) -> object:
    return _label_encode(cx, x, dict(
        keys_strings=keys_strings, keys_int64s=keys_int64s, keys_floats=keys_floats, keys_tensor=keys_tensor,
        values_strings=values_strings, values_int64s=values_int64s, values_floats=values_floats,
        values_tensor=values_tensor, default_string=default_string, default_int64=default_int64,
        default_float=default_float, default_tensor=default_tensor,
    ))
