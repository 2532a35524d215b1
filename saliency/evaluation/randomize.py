"""Cascading model randomisation, the sanity check of Adebayo et al. 2018 ("Sanity Checks for
Saliency Maps").

The weights are re-initialised from the output head down, one layer at a time, each stage
keeping the randomisation of the stages before it (head; head + top recurrent layer; ...;
everything, embedding included). At each stage every method explains the same texts (the same
class as the trained model explained) and the Spearman correlation between the trained and the
randomised map is averaged over texts. A map that stays similar once the whole model is random
does not depend on what the model learned.
"""

import math
import re

import numpy as np

from ..modelfile.checkpoint import ModelFile

# A method whose map still correlates this much with the trained map after full randomisation is
# flagged as not depending on the model.
SANITY_THRESHOLD = 0.5


def stages(config) -> list:
    """(stage name, weight-name prefixes) from the head down."""
    out = [("head", ("head.",))]
    for layer in reversed(range(config.layers)):
        names = tuple(f"rnn.{p}_l{layer}{s}" for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                      for s in ("", "_reverse")[: config.directions])
        out.append((f"layer {layer}", names))
    if config.embedding_dim:
        out.append(("embedding", ("embedding.",)))
    return out


def initial(name, shape, config, rng, dtype):
    """A fresh tensor as torch initialises it: U(+-1/sqrt(fan)) for the RNN and head, N(0, 1)
    embeddings with a zero <pad> row."""
    if name.startswith("embedding."):
        w = rng.standard_normal(shape)
        w[0] = 0.0
        return w.astype(dtype)
    if name.startswith("rnn."):  # torch: 1/sqrt of that layer's own hidden size (stacks may differ)
        fan = config.hidden_sizes[int(re.search(r"_l(\d+)", name).group(1))]
    else:
        fan = config.top_size * config.directions
    bound = 1.0 / math.sqrt(fan)
    return rng.uniform(-bound, bound, shape).astype(dtype)


def cascade(model_file, seed=0):
    """(stage, ModelFile) with the weights randomised from the head down to that stage."""
    rng = np.random.default_rng(seed)
    weights = dict(model_file.weights)
    for stage, prefixes in stages(model_file.config):
        for name in sorted(weights):
            if name.startswith(prefixes):
                weights[name] = initial(name, weights[name].shape, model_file.config, rng, weights[name].dtype)
        yield stage, ModelFile(model_file.config, model_file.tokenizer, model_file.labels, dict(weights),
                               dict(model_file.info), name=f"{model_file.name} (random to {stage})")


def randomization_check(model_file, explainer, items, settings, progress=None) -> dict:
    """{method: [{stage, spearman}]}: each trained map against the map at every stage."""
    from ..pipeline import Explainer

    engine = explainer.engine
    device = str(getattr(engine, "device", "cpu"))
    out = {m: [] for m in settings.methods}
    by_class = {}
    for item in items:
        by_class.setdefault(item.cls, []).append(item)
    options = dict(objective=settings.objective, **settings.method_options)
    for stage, randomised in cascade(model_file, settings.seed):
        other = Explainer.from_model_file(randomised, engine=engine.name, device=device,
                                          batch_size=explainer.batch_size, dtype=engine.dtype.name)
        for method in settings.methods:
            rhos = []
            for cls, group in by_class.items():  # the class the trained model explained
                results = other.explain([it.text for it in group], method=method, target=cls, errors="return",
                                        **options)
                rhos += [_spearman(it.scores[method], r) for it, r in zip(group, results)]
            rhos = [r for r in rhos if not math.isnan(r)]
            out[method].append({"stage": stage, "spearman": float(np.mean(rhos)) if rhos else None})
        if progress:
            progress(len(items))
    return out


def _spearman(trained, result):
    from .metrics import spearman

    if isinstance(result, Exception):
        return math.nan
    return spearman(trained, [t.score for t in result.tokens])


def flagged(randomization: dict) -> list:
    """Methods whose map barely changes under full randomisation: they do not depend on the model."""
    return [m for m, rows in randomization.items()
            if rows and rows[-1]["spearman"] is not None and rows[-1]["spearman"] >= SANITY_THRESHOLD]
