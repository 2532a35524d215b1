"""Attribution methods, one per module; importing this package registers them all.

A method is one module here holding a Method dataclass under @register (base.py), its parameters
declared with base.option (default, help, choices). Every module of this package is imported
below, so that file is all a new method takes: --method's choices and the method's flags on
every command that takes --method (cli/options.py), the Python API and evaluate's default
list all read METHODS.
"""

import importlib
import pkgutil

from .base import METHODS, Attributions, Batch, Method, make_method

# The order methods are listed in (--help, evaluate's default --methods, its tables): these
# first, in the order they came; a module not named here comes after them, by name.
LISTED = ("gradient", "grad_input", "integrated_gradients", "smoothgrad", "occlusion", "lrp")


def _listing_order(name: str):
    return (LISTED.index(name), "") if name in LISTED else (len(LISTED), name)


for _module in sorted((m.name for m in pkgutil.iter_modules(__path__)), key=_listing_order):
    importlib.import_module(f"{__name__}.{_module}")

# The default everywhere (explain, batch, the library): signed, one backward pass like the plain
# gradient, and far more faithful on removal metrics (docs/methods.md gives the evaluate figures).
DEFAULT_METHOD = "grad-input"

__all__ = ["DEFAULT_METHOD", "METHODS", "Attributions", "Batch", "Method", "make_method"]
