"""A standard PyTorch text RNN as a model file the CLI explains: `saliency.save_model`.

What maps: an nn.Embedding (or none: one-hot inputs), one nn.RNN / nn.LSTM / nn.GRU (any
num_layers, bidirectional), pooling last / max / mean over its outputs (the user says which:
code cannot be read), and a head of nn.Linear layers in the order they were made: the last is
the output, any before it hidden layers (a classifier's MLP head), each followed by the
activation module registered after it (nn.ReLU, nn.Tanh, nn.Sigmoid; none: linear) unless
head_activations= says otherwise; Dropout around them (nothing at inference). Anything else (a
custom cell, attention, a second recurrent module) is refused by name.

The user's module is trusted for nothing: before the file is written, the module (as
call(module, ids) runs it) and the converted model are run on probe texts, and unless their
log-probabilities agree to 1e-5 nothing is written and the largest difference is the error.
"""

import copy

import numpy as np
import torch
from torch import nn

from ..modelfile.checkpoint import ModelFile, save
from ..modelfile.config import ModelConfig
from ..errors import ModelError, UsageError
from ..tokenize import Tokenizer

RECURRENT = {nn.RNN: "rnn", nn.LSTM: "lstm", nn.GRU: "gru"}
ACTIVATION_MODULES = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid"}
PASSIVE = (nn.Dropout, nn.Identity, nn.ReLU, nn.Tanh, nn.Sigmoid, nn.LogSoftmax, nn.Softmax)
TOLERANCE = 1e-5
PROBE_LENGTHS = (1, 2, 3, 5, 8, 13, 21)


def save_model(module, path, vocab, labels=None, level="word", lowercase=True, pooling="last", head="classifier",
               call=None, head_activations=None):
    """Write `module` as a model file at `path`; returns the ModelFile. vocab: the tokens by the
    module's own ids (vocab[k] is id k); labels: the classifier's output names; head "lm": a
    next-token model (outputs per position). call(module, inputs) runs the module on (1, T) ids
    (or (1, T, V) one-hot vectors for a module without an nn.Embedding); default module(inputs).
    Raises ModelError (one line) for what cannot be mapped or does not agree."""
    if head not in ("classifier", "lm"):
        raise UsageError("head must be 'classifier' or 'lm'")
    model_file = convert(module, vocab, labels, level, lowercase, pooling, head, head_activations)
    gap = probe_difference(module, model_file, call)
    if not gap <= TOLERANCE:
        raise ModelError(f"the converted model differs from the module by {gap:.3g} (largest log-probability "
                         f"difference on probe texts; {TOLERANCE:g} allowed): not written. Check pooling= "
                         f"({pooling}), head= and head_activations= against the module's forward")
    model_file.info["probe_max_difference"] = float(gap)
    save(model_file, path)
    return model_file


def find_layers(module):
    """(embedding or None, (name, recurrent module), [(name, linear, activation after it)])."""
    embeddings, recurrent, linears = [], [], []
    for name, layer in module.named_modules():  # parents before children: attention is refused whole
        if isinstance(layer, nn.Embedding):
            embeddings.append(layer)
        elif type(layer) in RECURRENT:
            recurrent.append((name, layer))
        elif type(layer) is nn.Linear:
            linears.append([name, layer, "linear"])
        elif type(layer) in ACTIVATION_MODULES and linears and linears[-1][2] == "linear":
            linears[-1][2] = ACTIVATION_MODULES[type(layer)]
        elif list(layer.parameters(recurse=False)) or not (list(layer.children()) or isinstance(layer, PASSIVE)):
            # weights of its own (a custom cell, attention) or an unknown leaf: code we cannot read
            raise ModelError(f"save_model cannot map layer {name or 'the module itself'!r} ({type(layer).__name__}): "
                             "it maps an nn.Embedding, one nn.RNN/LSTM/GRU and an nn.Linear head (docs/own-model.md)")
    if len(embeddings) > 1:
        raise ModelError(f"{len(embeddings)} nn.Embedding layers: save_model maps one (or none, for one-hot input)")
    if len(recurrent) != 1:
        names = ", ".join(n for n, _ in recurrent) or "none"
        raise ModelError(f"{len(recurrent)} recurrent modules ({names}): save_model maps exactly one "
                         "nn.RNN/LSTM/GRU (several layers: its num_layers)")
    if not linears:
        raise ModelError("no nn.Linear output layer: save_model maps a head of nn.Linear layers")
    return (embeddings or [None])[0], recurrent[0], linears


def convert(module, vocab, labels, level, lowercase, pooling, head, head_activations=None) -> ModelFile:
    embedding, (rnn_name, rnn), linears = find_layers(module)
    linear, hidden = linears[-1][1], linears[:-1]
    if head_activations is not None:
        if len(head_activations) != len(hidden):
            raise UsageError(f"head_activations names {len(head_activations)} activations for {len(hidden)} "
                             "hidden Linear layers")
        for layer, activation in zip(hidden, head_activations):
            layer[2] = activation
    features = rnn.hidden_size * (2 if rnn.bidirectional else 1)
    for name, layer, _ in linears:
        if layer.in_features != features:
            raise ModelError(f"Linear layer {name!r} takes {layer.in_features} features, the layer before gives "
                             f"{features}: save_model maps a chain of Linear layers after the recurrent one")
        features = layer.out_features
    if hidden and head != "classifier":
        raise ModelError(f"hidden Linear layers ({', '.join(n for n, _, _ in hidden)}) are mapped for classifiers only")
    if embedding is not None and embedding.max_norm is not None:
        raise ModelError("an nn.Embedding with max_norm renormalises rows as it looks them up: not supported")
    if getattr(rnn, "proj_size", 0):
        raise ModelError(f"{rnn_name!r}: an LSTM with proj_size is not supported")
    V = embedding.num_embeddings if embedding is not None else rnn.input_size
    vocab = list(vocab)
    if len(vocab) != V:
        what = "the embedding has" if embedding is not None else "the recurrent layer takes one-hot vectors of"
        raise UsageError(f"vocab has {len(vocab)} tokens; {what} {V} rows" if embedding is not None
                         else f"vocab has {len(vocab)} tokens; {what} size {V}")
    directions = 2 if rnn.bidirectional else 1
    C = linear.out_features
    if head == "lm" and C != V:
        raise ModelError(f"a language model's head must give one output per token ({V}), not {C}")
    names = [str(k) for k in range(C)] if labels is None else list(labels)
    if head == "classifier" and len(names) != C:
        raise UsageError(f"{len(names)} labels for {C} outputs")
    cfg = ModelConfig(cell=RECURRENT[type(rnn)], vocab_size=V, embedding_dim=embedding.embedding_dim if embedding
                      is not None else 0, hidden_size=rnn.hidden_size, layers=rnn.num_layers,
                      bidirectional=rnn.bidirectional, head=head, pooling=pooling if head == "classifier" else "last",
                      num_labels=C if head == "classifier" else 1, nonlinearity=getattr(rnn, "nonlinearity", "tanh"),
                      head_hidden=tuple((layer.out_features, activation) for _, layer, activation in hidden))
    weights = {}
    if embedding is not None:
        weights["embedding.weight"] = embedding.weight.detach().double().cpu().numpy()
    G = {"rnn": 1, "lstm": 4, "gru": 3}[cfg.cell] * rnn.hidden_size
    for layer in range(rnn.num_layers):
        for suffix in ("", "_reverse")[:directions]:
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                name = f"{kind}_l{layer}{suffix}"
                tensor = getattr(rnn, name, None)
                weights[f"rnn.{name}"] = (np.zeros(G) if tensor is None  # bias=False
                                          else tensor.detach().double().cpu().numpy())
    for k, (_, layer, _) in enumerate(hidden):
        weights[f"head_hidden.{k}.weight"] = layer.weight.detach().double().cpu().numpy()
        weights[f"head_hidden.{k}.bias"] = (layer.bias.detach().double().cpu().numpy() if layer.bias is not None
                                             else np.zeros(layer.out_features))
    weights["head.weight"] = linear.weight.detach().double().cpu().numpy()
    weights["head.bias"] = (linear.bias.detach().double().cpu().numpy() if linear.bias is not None else np.zeros(C))
    try:
        tokenizer = Tokenizer(level, vocab, lowercase)
    except ValueError as e:
        raise UsageError(f"vocab: {e}") from None
    info = {"imported_from": "pytorch", "module": type(module).__name__, "task": head}
    return ModelFile(cfg, tokenizer, names if head == "classifier" else [], weights, info,
                     name=type(module).__name__)


def probe_ids(V: int, seed: int = 0) -> list:
    """Id sequences of several lengths that between them use every id."""
    rng = np.random.default_rng(seed)
    every = rng.permutation(V)
    probes = [rng.integers(0, V, n) for n in PROBE_LENGTHS]
    probes += [every[k:k + 16] for k in range(0, V, 16)][:64]  # every token at least once (up to 1,024)
    return probes


def probe_difference(module, model_file, call=None) -> float:
    """The largest |log-probability| difference between the module and the converted model."""
    from ..engines.torch_engine import TorchEngine

    call = call or (lambda m, inputs: m(inputs))
    theirs = copy.deepcopy(module).double().eval()
    ours = TorchEngine(model_file, "float64")
    V, one_hot = model_file.config.vocab_size, not model_file.config.embedding_dim
    gap = 0.0
    with torch.no_grad():
        for ids in probe_ids(V):
            row = torch.as_tensor(ids, dtype=torch.long)[None]
            inputs = nn.functional.one_hot(row, V).double() if one_hot else row
            try:
                out = call(theirs, inputs)
            except Exception as e:  # the module's own code: any failure is its, reported in one line
                first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
                raise ModelError(f"running the module on (1, {len(ids)}) {'one-hot vectors' if one_hot else 'ids'} "
                                 f"failed: {first} (adapt it with call=)") from None
            out = out[0] if isinstance(out, (tuple, list)) else out
            mine = ours.model(ours.model.embed(row), torch.tensor([len(ids)]))
            if tuple(out.shape) != tuple(mine.shape):
                raise ModelError(f"the module gives shape {tuple(out.shape)} for one text of {len(ids)} tokens; "
                                 f"the converted {model_file.config.head} gives {tuple(mine.shape)}")
            gap = max(gap, float((out.log_softmax(-1) - mine.log_softmax(-1)).abs().max()))
    return gap
