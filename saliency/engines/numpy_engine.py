"""The numpy engine: forward and backpropagation through time by hand, no torch.

Same weights, gate layouts and equations as torch's nn.RNN / nn.LSTM / nn.GRU (gates in
torch's order: LSTM i, f, g, o; GRU r, z, n), so the same model file gives the same
numbers. It starts in a fraction of torch's import time, which is what `explain` needs.

Variable lengths: the backward direction runs over each text reversed within its own
length, so padding is always at the end of a run. Steps past a text's end compute values
that nothing reads: outputs there are masked to zero and the final state is taken at the
last real step, so no gradient flows through them either.
Shapes: B batch, T time, I layer input, H hidden, G gates * H.
"""

import numpy as np

from ..objective import Objective, resolve_classes
from .base import Engine
from .prefix import pool_after
from .threads import blas_single_threaded, fitted_blas


def sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))  # = 1 / (1 + exp(-a)), without overflow warnings


ACTIVATIONS = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh, "sigmoid": sigmoid, "linear": lambda z: z}
SLOPES = {"relu": lambda z, a: (z > 0).astype(z.dtype), "tanh": lambda z, a: 1 - a * a,  # d activation / dz
          "sigmoid": lambda z, a: a * (1 - a), "linear": lambda z, a: np.ones_like(z)}


class Direction:
    """One direction of one layer: weights, a forward that caches, and the backward through time."""

    def __init__(self, cell, nonlinearity, w_ih, w_hh, b_ih, b_hh):
        self.cell, self.nonlinearity = cell, nonlinearity
        self.w_ih, self.w_hh, self.b_ih, self.b_hh = w_ih, w_hh, b_ih, b_hh
        self.H = w_hh.shape[1]

    def forward(self, X, keep=True, state=None, cs=None):
        """(B, T, I) -> ((B, T, H) hidden states at every step, what the backward needs): the
        cache is returned, never kept here, so batches can run side by side; with keep false
        (a forward pass alone) it is empty, since it is most of the memory. state: the initial
        (h, c), each (1, H) (a zero-start model's) or (B, H) (occlusion's prefix reuse, which
        also passes cs (B, T, H) to receive an LSTM's cell state at every step); zeros otherwise."""
        B, T, _ = X.shape
        H = self.H
        xw = X @ self.w_ih.T + self.b_ih  # (B, T, G)
        h = np.zeros((B, H), X.dtype) if state is None else np.broadcast_to(state[0].astype(X.dtype), (B, H))
        c = np.zeros((B, H), X.dtype) if state is None else np.broadcast_to(state[1].astype(X.dtype), (B, H))
        hs = np.empty((B, T, H), X.dtype)
        cache = []
        append = cache.append if keep else (lambda step: None)
        for t in range(T):
            hw = h @ self.w_hh.T + self.b_hh  # (B, G)
            if self.cell == "lstm":
                a = xw[:, t] + hw
                i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 3 * H:])
                g = np.tanh(a[:, 2 * H:3 * H])
                c_prev, c = c, f * c + i * g
                tanh_c = np.tanh(c)
                append((i, f, g, o, c_prev, tanh_c))
                if cs is not None:
                    cs[:, t] = c
                h = o * tanh_c
            elif self.cell == "gru":
                r = sigmoid(xw[:, t, :H] + hw[:, :H])
                z = sigmoid(xw[:, t, H:2 * H] + hw[:, H:2 * H])
                hn = hw[:, 2 * H:]
                n = np.tanh(xw[:, t, 2 * H:] + r * hn)
                append((r, z, n, hn, h))
                h = (1 - z) * n + z * h
            else:
                a = xw[:, t] + hw
                h = np.tanh(a) if self.nonlinearity == "tanh" else np.maximum(a, 0)
                append((a, h))
            hs[:, t] = h
        return hs, cache

    def backward(self, dhs, cache):
        """dL/d(hidden states) (B, T, H) and forward's cache -> dL/dX (B, T, I), back through time."""
        B, T, H = dhs.shape
        dX_gates = np.empty((B, T, self.w_ih.shape[0]), dhs.dtype)
        dh_next = np.zeros((B, H), dhs.dtype)
        dc_next = np.zeros((B, H), dhs.dtype)
        for t in reversed(range(T)):
            dh = dhs[:, t] + dh_next
            if self.cell == "lstm":
                i, f, g, o, c_prev, tanh_c = cache[t]
                dc = dh * o * (1 - tanh_c ** 2) + dc_next
                da = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                                     dc * i * (1 - g ** 2), dh * tanh_c * o * (1 - o)], axis=1)
                dc_next = dc * f
                dX_gates[:, t] = da
                dh_next = da @ self.w_hh
            elif self.cell == "gru":
                r, z, n, hn, h_prev = cache[t]
                dan = dh * (1 - z) * (1 - n ** 2)
                dar = dan * hn * r * (1 - r)
                daz = dh * (h_prev - n) * z * (1 - z)
                dX_gates[:, t] = np.concatenate([dar, daz, dan], axis=1)
                dh_next = np.concatenate([dar, daz, dan * r], axis=1) @ self.w_hh + dh * z
            else:
                a, h = cache[t]
                da = dh * ((1 - h ** 2) if self.nonlinearity == "tanh" else (a > 0))
                dX_gates[:, t] = da
                dh_next = da @ self.w_hh
        return dX_gates @ self.w_ih


def reverse_within_length(X, lengths):
    """Each row's first `length` steps reversed, padding left at the end (an involution)."""
    T = X.shape[1]
    t = np.arange(T)[None, :]
    index = np.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # (B, T)
    return np.take_along_axis(X, index[..., None], axis=1)


class NumpyEngine(Engine):
    """The engine contract (engines/base.py) in numpy: every capability but a torch module."""

    name = "numpy"
    device = "cpu"
    resumable = True

    def __init__(self, model_file, dtype="float32"):
        cfg = self.config = model_file.config
        self.dtype = np.dtype(dtype)
        w = {k: np.asarray(v, self.dtype) for k, v in model_file.weights.items()}
        self.embedding = w.get("embedding.weight")
        self.layers = [
            [Direction(cfg.cells[layer], cfg.nonlinearity, *(w[f"rnn.{p}_l{layer}{s}"]
                                                    for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")))
             for s in ("", "_reverse")[: cfg.directions]]
            for layer in range(cfg.layers)
        ]
        self.head_w, self.head_b = w["head.weight"], w["head.bias"]
        self.hidden = [(w[f"head_hidden.{k}.weight"], w[f"head_hidden.{k}.bias"], activation)
                       for k, (_, activation) in enumerate(cfg.head_hidden)]  # a classifier's MLP head
        self.starts = self._zero_step() if cfg.zero_start else [None] * cfg.layers

    def _zero_step(self):
        """Each layer's (h, c) after a zero input vector (a zero-start model's initial states): the
        step runs from zero states, and nothing the user typed reaches it, so dx never flows there."""
        out, starts = np.zeros((1, 1, self.config.input_size), self.dtype), []
        for layer in self.layers:
            hs, cache = layer[0].forward(out)
            c = cache[0][1] * cache[0][4] + cache[0][0] * cache[0][2] if layer[0].cell == "lstm" else hs[:, 0]
            starts.append((hs[:, 0], c))  # c = f c_prev + i g for an LSTM; unused otherwise
            out = hs
        return starts

    def weights(self) -> dict:
        """Its arrays (in its dtype) under the model file's names."""
        w = {"head.weight": self.head_w, "head.bias": self.head_b}
        if self.embedding is not None:
            w["embedding.weight"] = self.embedding
        for layer, directions in enumerate(self.layers):
            for d, s in zip(directions, ("", "_reverse")):
                w.update({f"rnn.weight_ih_l{layer}{s}": d.w_ih, f"rnn.weight_hh_l{layer}{s}": d.w_hh,
                          f"rnn.bias_ih_l{layer}{s}": d.b_ih, f"rnn.bias_hh_l{layer}{s}": d.b_hh})
        for k, (weight, bias, _) in enumerate(self.hidden):
            w.update({f"head_hidden.{k}.weight": weight, f"head_hidden.{k}.bias": bias})
        return w

    @staticmethod
    def parallel_scope():
        """Batches side by side (threads.side_by_side), each with BLAS on one thread."""
        return blas_single_threaded

    def embed(self, ids):
        ids = np.asarray(ids)
        if self.embedding is not None:
            return self.embedding[ids]
        # One-hot rows written in place: an identity matrix would be V x V (37 GiB for 100k tokens).
        out = np.zeros(ids.shape + (self.config.vocab_size,), self.dtype)
        np.put_along_axis(out, ids[..., None], 1.0, axis=-1)
        return out

    def _run(self, x, lengths, keep=True):
        """Network body: (B, T, E) -> (top-layer outputs (B, T, D*H), zero at padding; mask;
        per layer, each direction's cache for the backward)."""
        mask = (np.arange(x.shape[1])[None, :] < lengths[:, None])[..., None]
        out = np.asarray(x, self.dtype)
        caches = []
        for layer, start in zip(self.layers, self.starts):
            forward, forward_cache = layer[0].forward(out, keep, start)
            parts, cache = [forward], [forward_cache]
            if len(layer) == 2:
                backward, backward_cache = layer[1].forward(reverse_within_length(out, lengths), keep)
                parts.append(reverse_within_length(backward, lengths))
                cache.append(backward_cache)
            out = np.concatenate(parts, axis=-1) * mask
            caches.append(cache)
        return out, mask, caches

    def _pool(self, out, mask, lengths):
        cfg, H = self.config, self.config.top_size
        rows = np.arange(len(out))
        if cfg.pooling == "last":  # forward: at the last real step; backward direction: at step 0
            parts = [out[rows, lengths - 1, :H]] + ([out[:, 0, H:]] if cfg.bidirectional else [])
            return np.concatenate(parts, axis=-1)
        if cfg.pooling == "max":
            return np.where(mask, out, -np.inf).max(axis=1)
        return out.sum(axis=1) / lengths[:, None]

    @fitted_blas
    def forward(self, x, lengths):
        lengths = np.asarray(lengths)
        out, mask, _ = self._run(x, lengths, keep=False)
        if self.config.per_position:
            return out @ self.head_w.T + self.head_b
        return self._top(self._pool(out, mask, lengths))[0]

    def _top(self, features):
        """The classifier's head: (logits, each hidden layer's (pre-activation, activation))."""
        cache = []
        for w, b, activation in self.hidden:
            z = features @ w.T + b
            features = ACTIVATIONS[activation](z)
            cache.append((z, features))
        return features @ self.head_w.T + self.head_b, cache

    def _top_backward(self, dfeatures, cache):
        """dF/d(pooled features) from dF/d(the output layer's input), back through the hidden layers."""
        for (w, _, activation), (z, a) in zip(reversed(self.hidden), reversed(cache)):
            dfeatures = (dfeatures * SLOPES[activation](z, a)) @ w
        return dfeatures

    @fitted_blas
    def gradient(self, x, lengths, positions, classes, objective=Objective(), ids=None):
        """(logits, values, dx): as TorchEngine.gradient, by backpropagation through time."""
        cfg, H = self.config, self.config.top_size
        x = np.asarray(x, self.dtype)
        lengths, positions = np.asarray(lengths), np.asarray(positions)
        B = len(x)
        rows = np.arange(B)
        out, mask, caches = self._run(x, lengths)
        if cfg.per_position:
            logits = out @ self.head_w.T + self.head_b  # (B, T, V or C)
            at = logits[rows, positions]
        else:
            pooled = self._pool(out, mask, lengths)
            logits, head_cache = self._top(pooled)  # (B, C)
            at = logits
        objective = Objective.of(objective)
        classes = resolve_classes(at, classes)
        dlogit = np.zeros_like(at)
        dlogit[rows, classes] = 1.0
        if objective.uses_logprob:
            e = np.exp(at - at.max(-1, keepdims=True))
            dlogit -= e / e.sum(-1, keepdims=True)
            values = at[rows, classes] - np.log(e.sum(-1)) - at.max(-1)
        else:
            values = at[rows, classes]
        if objective.against is not None:  # F = logit(class) - logit(against)
            dlogit[:, objective.against] -= 1.0
            values = values - at[:, objective.against]
        dpool = dlogit @ self.head_w  # (B, D*H), or the last hidden head layer's size
        if not cfg.per_position:
            dpool = self._top_backward(dpool, head_cache)
        dout = np.zeros_like(out)
        if cfg.per_position:
            dout[rows, positions] = dpool
        elif cfg.pooling == "last":
            dout[rows, lengths - 1, :H] = dpool[:, :H]
            if cfg.bidirectional:
                dout[:, 0, H:] += dpool[:, H:]
        elif cfg.pooling == "max":
            masked = np.where(mask, out, -np.inf)
            winners = masked == masked.max(axis=1, keepdims=True)
            dout = winners * (dpool / winners.sum(axis=1))[:, None, :]  # ties share, as torch's amax
        else:
            dout = np.broadcast_to((dpool / lengths[:, None])[:, None, :], out.shape) * mask
        for layer, cache in zip(reversed(self.layers), reversed(caches)):
            dout = dout * mask
            H = layer[0].H  # layers may differ in size
            dx = layer[0].backward(dout[..., :H], cache[0])
            if len(layer) == 2:
                back = reverse_within_length(dout[..., H:], lengths)
                dx = dx + reverse_within_length(layer[1].backward(back, cache[1]), lengths)
            dout = dx
        return logits, values, dout * mask

    def states(self, x, lengths):
        """Per layer (h, c or None), each (B, T+1, H): the state entering every step (the start
        state at step 0, the last one after the whole text), for occlusion's prefix reuse
        (saliency/engines/prefix.py). One-directional models only; states past a text's end are never read."""
        out, states = np.asarray(x, self.dtype), []
        B, T, _ = out.shape
        for (direction,), start in zip(self.layers, self.starts):
            h = np.zeros((B, T + 1, direction.H), self.dtype)
            c = np.zeros_like(h) if direction.cell == "lstm" else None
            if start is not None:  # a zero-start model's
                h[:, 0] = start[0]
                if c is not None:
                    c[:, 0] = start[1]
            h[:, 1:], _ = direction.forward(out, False, start, None if c is None else c[:, 1:])
            states.append((h, c))
            out = h[:, 1:]
        return states

    @fitted_blas
    def resume(self, x, lengths, initial, prefix=None):
        """Logits of texts run on from per-layer states `initial` [(h, c or None), each (B, H)] over
        inputs x (B, T, E), end-padded to true lengths: pooled with the steps before (`prefix`,
        a classifier), or (B, T, V or C) at every step (lm, tagger: prefix None)."""
        out = np.asarray(x, self.dtype)
        for (direction,), (h0, c0) in zip(self.layers, initial):
            out, _ = direction.forward(out, False, (h0, h0 if c0 is None else c0))  # c: an LSTM's only
        if prefix is None:
            return out @ self.head_w.T + self.head_b
        return self._top(pool_after(self.config.pooling, out, np.asarray(lengths), prefix))[0]
