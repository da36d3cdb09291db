"""Realistic input values for the corpus models, shared by generate.py (torch side) and the tests.

Kept free of torch and mxnet imports: numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def make_value(values: str, dtype: str, shape: Sequence[int], rng: np.random.Generator, high: int = 0) -> np.ndarray:
    """One input array.

    ``values`` is ``normal`` (standard normal floats), ``uniform01`` (images in [0, 1]),
    ``tokens`` (integers in [0, high)) or ``mask`` (an attention mask: ones, then zeros padding
    the end of every row but the first, which stays full).
    """
    shape = [int(d) for d in shape]
    if values == "normal":
        return rng.standard_normal(shape).astype(dtype)
    if values == "uniform01":
        return rng.random(shape).astype(dtype)
    if values == "tokens":
        return rng.integers(0, high, size=shape).astype(dtype)
    if values == "mask":
        mask = np.ones(shape, dtype=dtype)
        for row in range(1, shape[0]):
            mask[row, rng.integers(1, shape[1] + 1):] = 0
        return mask
    raise ValueError(f"unknown value kind {values!r}")


def case_inputs(inputs: Sequence[Mapping], shapes: Mapping[str, Sequence[int]], seed: int) -> dict[str, np.ndarray]:
    """Inputs of one test case: ``inputs`` are manifest input specs, ``shapes`` name -> concrete shape."""
    rng = np.random.default_rng(seed)
    return {spec["name"]: make_value(spec["values"], spec["dtype"], shapes[spec["name"]], rng, spec.get("high", 0))
            for spec in inputs}
