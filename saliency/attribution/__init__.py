"""Attribution methods, one per module; importing this package registers them all."""

from . import gradient, grad_input, integrated_gradients, smoothgrad, occlusion, lrp  # noqa: F401
from .base import METHODS, Attributions, Batch, Method, make_method

# The default everywhere (explain, batch, the library): signed, one backward pass like the plain
# gradient, and far more faithful on removal metrics (docs/methods.md gives the evaluate figures).
DEFAULT_METHOD = "grad-input"

__all__ = ["DEFAULT_METHOD", "METHODS", "Attributions", "Batch", "Method", "make_method"]
