"""Input-gradient saliency: the size of dx_t = dF/dx_t at each timestep.

Simonyan, Vedaldi & Zisserman 2013, "Deep Inside Convolutional Networks"; Li, Chen, Hovy &
Jurafsky 2016, "Visualizing and Understanding Neural Models in NLP" for recurrent models.
"""

from dataclasses import dataclass

from .base import REDUCTIONS, Attributions, Method, check_reduce, option, reduce_vectors, register


@register
@dataclass
class Gradient(Method):
    name = "gradient"
    evaluates_input = True
    signed = False
    reduce: str = option("l2", "l2 | l1 | max over dx_t's components.", REDUCTIONS)

    def validate(self):
        check_reduce(self.reduce)

    def attribute(self, engine, batch) -> Attributions:
        logits, values, dx = engine.gradient(batch.x, batch.lengths, batch.positions, batch.classes,
                                             batch.objective, ids=batch.ids)  # x is their embedding
        return Attributions(reduce_vectors(dx, self.reduce) * batch.mask_like(dx), values, dx, logits=logits)
