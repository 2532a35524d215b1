"""The network again, in float64 numpy, recording what relevance propagation (lrp.py) reads.

LRP needs the cell's internals at every step (gates, cell states, pre-activations), which
neither engine keeps. So the weights are read out of whichever engine is loaded (the torch
engine's module or the numpy engine's arrays: the same model file either way), cast to float64
and run once more here, step by step, with every intermediate kept. The tests check that this
forward gives each engine's own logits to 1e-10, so the relevances are those of the engine's
network; the engines agree on LRP because they hand over the same weights.

Same equations and gate order as torch (LSTM i, f, g, o; GRU r, z, n). The reverse direction
runs over each text reversed within its own length, as the numpy engine does.
Shapes: B batch, T time, I layer input, H hidden, D directions.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import UsageError


def sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def tanh(a):  # a module-level name, so a test can put the identity in its place
    return np.tanh(a)


@dataclass
class Direction:
    """One direction of one layer, float64."""

    cell: str
    nonlinearity: str
    w_ih: np.ndarray  # (G*H, I)
    w_hh: np.ndarray  # (G*H, H)
    b_ih: np.ndarray
    b_hh: np.ndarray

    @property
    def H(self) -> int:
        return self.w_hh.shape[1]

    def run(self, X, state=None):
        """(B, T, I) -> (hidden states (B, T, H), per step a dict of what the backward reads).
        state: the initial (h, c), each (1, H) (a zero-start model's); zeros otherwise."""
        B, T, _ = X.shape
        H = self.H
        xw = X @ self.w_ih.T + self.b_ih  # (B, T, G*H)
        h = np.zeros((B, H)) if state is None else np.repeat(state[0], B, axis=0)
        c = np.zeros((B, H)) if state is None else np.repeat(state[1], B, axis=0)
        hs, steps = np.empty((B, T, H)), []
        for t in range(T):
            hw = h @ self.w_hh.T + self.b_hh
            if self.cell == "lstm":
                a = xw[:, t] + hw
                i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 3 * H:])
                a_g = a[:, 2 * H:3 * H]
                g = tanh(a_g)
                step = dict(x=X[:, t], h_prev=h, c_prev=c, i=i, f=f, g=g, a_g=a_g)
                c = f * c + i * g
                h = o * tanh(c)
            elif self.cell == "gru":
                r = sigmoid(xw[:, t, :H] + hw[:, :H])
                z = sigmoid(xw[:, t, H:2 * H] + hw[:, H:2 * H])
                a_n = xw[:, t, 2 * H:] + r * hw[:, 2 * H:]
                n = tanh(a_n)
                step = dict(x=X[:, t], h_prev=h, r=r, z=z, n=n, a_n=a_n)
                h = (1 - z) * n + z * h
            else:
                a = xw[:, t] + hw
                step = dict(x=X[:, t], h_prev=h, a=a)
                h = tanh(a) if self.nonlinearity == "tanh" else np.maximum(a, 0)
            steps.append(step)
            hs[:, t] = h
        return hs, steps


@dataclass
class Network:
    """The model's weights in float64, and a forward that records every step."""

    config: object
    layers: list  # per layer, one Direction per direction
    head_w: np.ndarray  # (C, D*H)
    head_b: np.ndarray  # (C,)

    def run(self, x, lengths):
        """(B, T, E) inputs -> (top-layer outputs (B, T, D*H), zero at padding; per layer, per
        direction, (its input as it ran, its steps))."""
        from ..engines.numpy_engine import reverse_within_length

        mask = (np.arange(x.shape[1])[None, :] < lengths[:, None])[..., None]
        out, records = np.asarray(x, np.float64), []
        starts = self.zero_step() if self.config.zero_start else [None] * len(self.layers)
        for layer, start in zip(self.layers, starts):
            inputs = [out] + ([reverse_within_length(out, lengths)] if len(layer) == 2 else [])
            parts, record = [], []
            for k, (direction, X) in enumerate(zip(layer, inputs)):
                hs, steps = direction.run(X, start if k == 0 else None)
                parts.append(hs if k == 0 else reverse_within_length(hs, lengths))
                record.append(steps)
            out = np.concatenate(parts, axis=-1) * mask
            records.append(record)
        return out, records

    def zero_step(self):
        """Each layer's (h, c) after a zero input vector: a zero-start model's initial states
        (constants: relevance reaching them stays there, as relevance reaching a bias does)."""
        out, starts = np.zeros((1, 1, self.layers[0][0].w_ih.shape[1])), []
        for layer in self.layers:
            hs, steps = layer[0].run(out)
            s = steps[0]
            c = s["f"] * s["c_prev"] + s["i"] * s["g"] if "f" in s else hs[:, 0]
            starts.append((hs[:, 0], c))
            out = hs
        return starts

    def pool(self, out, lengths):
        """A classifier's pooled vector (B, D*H), as the engines pool."""
        cfg, H = self.config, self.config.top_size
        mask = (np.arange(out.shape[1])[None, :] < lengths[:, None])[..., None]
        if cfg.pooling == "last":  # forward: the last real step; reverse direction: step 0
            rows = np.arange(len(out))
            return np.concatenate([out[rows, lengths - 1, :H]] + ([out[:, 0, H:]] if cfg.bidirectional else []), -1)
        if cfg.pooling == "max":
            return np.where(mask, out, -np.inf).max(axis=1)
        return out.sum(axis=1) / lengths[:, None]

    def logits(self, x, lengths):
        """The network's output, (B, C) or (B, T, V): what the tests compare with each engine's."""
        out, _ = self.run(x, lengths)
        at = out if self.config.head != "classifier" else self.pool(out, lengths)
        return at @ self.head_w.T + self.head_b


def network_of(engine) -> Network:
    """The float64 Network of a loaded model file, from the torch or the numpy engine. Read
    afresh at each call (a copy of the weights, milliseconds), so weights changed in place
    since the engine was loaded are the ones explained."""
    cfg = engine.config
    if getattr(cfg, "head_hidden", ()):
        raise UsageError("lrp has no rule here for a classifier's hidden head layers (an MLP head: "
                         f"{', '.join(f'{n} {a}' for n, a in cfg.head_hidden)}); use another method")
    model = getattr(engine, "model", None)
    if model is not None and hasattr(model, "weights"):  # torch engine: RNNModel, tensors under file names
        w = {k: np.asarray(v, np.float64) for k, v in model.weights().items()}
        layers = [[Direction(cfg.cells[layer], cfg.nonlinearity, *(w[f"rnn.{p}_l{layer}{s}"]
                                                           for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")))
                   for s in ("", "_reverse")[:cfg.directions]] for layer in range(cfg.layers)]
        head_w, head_b = w["head.weight"], w["head.bias"]
    elif hasattr(engine, "layers") and hasattr(engine, "head_w"):  # numpy engine: its own arrays
        layers = [[Direction(d.cell, d.nonlinearity, *(np.asarray(a, np.float64)
                                                       for a in (d.w_ih, d.w_hh, d.b_ih, d.b_hh)))
                   for d in layer] for layer in engine.layers]
        head_w, head_b = np.asarray(engine.head_w, np.float64), np.asarray(engine.head_b, np.float64)
    else:
        raise UsageError("lrp needs the recurrent cell's internals (gates and cell states), which only a saliency "
                         "model file exposes (trained, imported, or written by save_model); "
                         "use another method for your own torch module")
    return Network(cfg, layers, head_w, head_b)
