"""Budgets that protect against resource bombs in untrusted models.

Change them at run time, e.g. ``gluon_onnx.limits.MAX_TENSOR_ELEMENTS = 2**33``.
"""

#: Largest number of elements one tensor created from a shape (ConstantOfShape, Expand,
#: Tile, Range, Resize, ...) may have.
MAX_TENSOR_ELEMENTS = 2**31

#: Largest number of nodes in one graph (subgraphs included separately).
MAX_NODES = 2_000_000

#: Deepest nesting of subgraphs (If/Loop/Scan bodies).
MAX_SUBGRAPH_DEPTH = 32

#: A serialized ModelProto cannot exceed 2 GiB (protobuf limit).
MAX_PROTO_BYTES = 2**31

#: Constants folded at import time larger than this (elements) stay runtime operations.
MAX_FOLDED_ELEMENTS = 1 << 22

#: Most runs of one node's subgraphs in one forward call (Loop iterations, Scan steps,
#: SequenceMap elements): a huge trip count stops with ResourceLimitError instead of spinning.
MAX_LOOP_ITERATIONS = 100_000
