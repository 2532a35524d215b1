"""Gradient x input: dx_t . x_t, signed (positive pushes the target up).

Shrikumar et al. 2016, "Not Just a Black Box"; Denil et al. 2014 for text. For a one-hot
model x_t is one-hot, so this is the gradient's coordinate of the character actually present.
"""

from dataclasses import dataclass

from .base import Attributions, Method, register


@register
@dataclass
class GradInput(Method):
    name = "grad-input"
    evaluates_input = True
    signed = True

    def attribute(self, engine, batch) -> Attributions:
        logits, values, dx = engine.gradient(batch.x, batch.lengths, batch.positions, batch.classes,
                                             batch.objective, ids=batch.ids)  # x is their embedding
        scores = (dx * batch.x).sum(-1) * batch.mask_like(dx)  # torch: 1.7x its einsum on a time-major dx
        return Attributions(scores, values, dx, logits=logits)
