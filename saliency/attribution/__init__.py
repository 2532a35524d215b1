"""Attribution methods, one per module; importing this package registers them all."""

from . import gradient, grad_input, integrated_gradients, smoothgrad, occlusion, lrp  # noqa: F401
from .base import METHODS, Attributions, Batch, Method, make_method

__all__ = ["METHODS", "Attributions", "Batch", "Method", "make_method"]
