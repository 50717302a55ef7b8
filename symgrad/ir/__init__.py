"""The IR layer: immutable, hash-consed nodes, the op table, the simplifying builders.

Nothing here imports a layer above it; those layers plug into :class:`Node`'s
numpy protocol and LaTeX printing through :data:`node.PROTOCOL`.
"""

from .node import Node, const, free_symbols, make, symbol, toposort

__all__ = ["Node", "const", "free_symbols", "make", "symbol", "toposort"]
