"""The tracing layer: the math users write, numpy's protocols on symbols, and tracing functions into programs."""

from . import numpy_protocol

numpy_protocol.install()
