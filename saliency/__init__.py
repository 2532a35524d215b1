"""saliency: which input tokens drove a recurrent text model's prediction?

    from saliency import load_model
    explainer = load_model("sst2-lstm")
    explainer.explain(["a gorgeous , witty movie"], method="integrated-gradients")

Importing this package does not import torch; the torch engine loads on first use.
"""

from .errors import InputError, ModelError, SaliencyError, UsageError
from .explanation import Explanation, TokenScore


def load_model(name_or_path=None, engine="auto", device="cpu", batch_size=64, dtype="float32"):
    """An Explainer for a shipped model (by name) or a model file (by path)."""
    from .pipeline import Explainer
    from .registry import load_model_file

    return Explainer(load_model_file(name_or_path), engine=engine, device=device, batch_size=batch_size,
                     dtype=dtype)


__all__ = ["load_model", "Explanation", "TokenScore", "SaliencyError", "UsageError", "InputError", "ModelError"]
