"""saliency: which input tokens drove a recurrent text model's prediction?

    from saliency import load_model
    explainer = load_model("sst2-lstm")
    explainer.explain(["a gorgeous , witty movie"], method="integrated-gradients")

Importing this package does not import torch; the torch engine loads on first use.
"""

import os as _os

# In a checkout, saliency.cli and saliency.models are the folders cli/ and models/ beside this one
# (pyproject's package-dir maps them in when installed). When Python imports this folder straight
# from the checkout (its root is the working directory, after a plain `pip install .`), the
# checkout root on __path__ lets those two subpackages be found there too.
_root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if _os.path.isfile(_os.path.join(_root, "pyproject.toml")) and _os.path.isfile(_os.path.join(_root, "models", "__init__.py")):
    __path__.append(_root)

from .errors import InputError, ModelError, SaliencyError, UsageError
from .explanation import Explanation, Explanations
from .tokenize import Token


def load_model(name_or_path=None, engine="auto", device="cpu", batch_size=64, dtype="float32"):
    """An Explainer for a shipped model (by name) or a model file (by path)."""
    from .pipeline import Explainer
    from .modelfile.registry import load_model_file

    return Explainer.from_model_file(load_model_file(name_or_path), engine=engine, device=device,
                                     batch_size=batch_size, dtype=dtype)


def explain(model, text, method=None, *, tokenizer=None, labels=None, embedding=None, head="classifier",
            **options):
    """Explain `text` (a string: one Explanation; a list: one Explanation or error per text).

    `model` is a shipped model name, a model file path, an Explainer from load_model, or any
    torch.nn.Module: one that embeds token ids with an nn.Embedding (found automatically when
    there is exactly one; else name it with `embedding=`), or one that takes float one-hot
    vectors (`inputs="one-hot"`). For a module, `tokenizer` maps text to ids (or to (token, id)
    pairs, so the output can show offsets) and `labels` names its outputs; `call=f` runs it as
    f(module, inputs) for inputs (B, T) ids or (B, T, V) one-hot, batch first, adapting them to
    its own signature; `pad_id=` / `unk_id=` name its padding and unknown ids (none otherwise);
    `batched=True/False` declares whether it takes several texts at once ("auto": tested).
    Options are explain's: target, position, objective, vectors and the method's parameters.
    `method` may name several methods, "grad-input,lrp": one row per method (`rows`).
    """
    from .compare import explain as run  # method "a,b": several methods side by side (saliency.compare)

    module_options = _module_options(options)
    explainer = _explainer(model, tokenizer, labels, embedding=embedding, head=head, **module_options)
    if isinstance(text, str):
        (result,) = run(explainer, [text], method, **options)
        if isinstance(result, Exception):
            raise result
        return result
    return run(explainer, list(text), method, **options)


def explain_records(model, records, *, text_field=None, shard=None, **options):
    """Explain a stream of records: one RecordResult (.record, .explanation, .error) per record, in
    input order. `records`: dicts (text in `text_field`, default text or sentence; the other keys
    passed through), strings, or saliency.records.io.Record. See saliency.records.batch.explain_records."""
    from .records.batch import explain_records as run

    return run(model, records, text_field=text_field, shard=shard, **options)


def _module_options(options: dict) -> dict:
    """The options that describe a user's nn.Module (taken out of `options`, which keeps the rest)."""
    return {k: options.pop(k) for k in ("inputs", "call", "vocab_size", "batched", "pad_id", "unk_id")
            if k in options}


def _explainer(model, tokenizer=None, labels=None, **module_options):
    """An Explainer from a shipped model name, a model file path, an Explainer, or an nn.Module
    (module_options: wrap.module_explainer's embedding, head, inputs, call, ...)."""
    if model is None or isinstance(model, str):
        return load_model(model)
    if hasattr(model, "explain") and hasattr(model, "engine"):
        return model
    from .engines.user_module import module_explainer

    return module_explainer(model, tokenizer, labels, **module_options)


def save_model(module, path, vocab, *, labels=None, level="word", lowercase=True, pooling="last",
               head="classifier", call=None, head_activations=None):
    """Write a standard PyTorch text RNN (nn.Embedding or one-hot input, one nn.RNN/LSTM/GRU,
    pooling last/max/mean, an nn.Linear head or a small MLP head) as a model file the CLI
    explains, after checking on probe texts that the file's model gives the module's
    log-probabilities to 1e-5. vocab[k] is the token of the module's id k. See saliency.importers.torch_module."""
    from .importers.torch_module import save_model as run

    return run(module, path, vocab, labels, level, lowercase, pooling, head, call, head_activations)


def flip(model, text, to=None, *, max_swaps=1, keep=(), candidates=32, **module_options):
    """The token swap(s) that change the prediction for `text` (HotFlip): a FlipResult.

    `model` as for explain (a module needs a tokenizer with a `vocab` list, e.g.
    saliency.tokenize.Tokenizer). `to`: reach this label instead of leaving the predicted one.
    """
    from .act.flip import flip as run

    return run(_explainer(model, **module_options), text, to, max_swaps, keep, candidates)


def reduce(model, text, *, method="gradient", candidates=5, **options):
    """Input reduction (Feng et al. 2018): the shortest text, dropping least salient tokens, that
    keeps the prediction: a ReduceResult. Options: the method's parameters, or for an nn.Module
    tokenizer=, labels=, embedding=, head= as for explain."""
    from .act.reduce import reduce as run

    module_options = {k: options.pop(k) for k in ("tokenizer", "labels", "embedding", "head") if k in options}
    module_options.update(_module_options(options))
    return run(_explainer(model, **module_options), text, method, candidates, **options)


def prototype(model, to, *, start=None, length=8, seed=None, candidates=32, max_steps=100, **module_options):
    """The input label (or language-model next token) `to` responds to most, by verified
    gradient-guided swaps from `start`, `length` unknown tokens, or tokens drawn with `seed`."""
    from .act.prototype import prototype as run

    return run(_explainer(model, **module_options), to, start, length, seed, candidates, max_steps)


__all__ = ["load_model", "save_model", "explain", "explain_records", "flip", "reduce", "prototype", "Explanation", "Explanations", "Token", "SaliencyError", "UsageError", "InputError", "ModelError"]
