"""Prefix reuse (saliency/engines/prefix.py) on the torch engine, with torch's own recurrent modules.

torch's nn.RNN/LSTM/GRU take initial states (hx) per layer but return only the last step's
states, so the states at every step are collected one step at a time: that is a run of the
original texts only, T short calls, against the T copies it spares. The suffixes then run as
one call per module from the gathered states.
"""

import torch


def modules(model):
    """(module, index of its first layer): one multi-layer module, or LayerStack's one per layer."""
    if model.cfg.uniform:
        return [(model.rnn, 0)]
    return [(module, k) for k, module in enumerate(model.rnn)]


def step_states(model, x):
    """(B, T, E) -> per layer (h, c or None), each (B, T+1, H): the state entering every step
    (zeros at step 0, or a zero-start model's initial states)."""
    B, T, _ = x.shape
    starts = model.initial_states(B)  # None, or per module: (layers, B, H) or (h, c); a LayerStack's a list
    states, inputs = [], x
    for k, (module, _) in enumerate(modules(model)):
        n, H, lstm = module.num_layers, module.hidden_size, isinstance(module, torch.nn.LSTM)
        start = None if starts is None else starts[k] if isinstance(starts, list) else starts
        h = x.new_zeros(T + 1, n, B, H)  # step-major: each step's (layers, B, H) is torch's hx
        c = torch.zeros_like(h) if lstm else None
        if start is not None:
            h[0] = start[0] if lstm else start
            if lstm:
                c[0] = start[1]
        outputs = x.new_empty(B, T, H)
        for t in range(T):
            out, final = module(inputs[:, t:t + 1], (h[t], c[t]) if lstm else h[t])
            outputs[:, t] = out[:, 0]
            if lstm:
                h[t + 1], c[t + 1] = final
            else:
                h[t + 1] = final
        states += [(h[:, k].transpose(0, 1), None if c is None else c[:, k].transpose(0, 1)) for k in range(n)]
        inputs = outputs
    return states


def run_from(model, x, initial):
    """Top-layer outputs (R, T', H) of inputs x (R, T', E) run from per-layer states `initial`
    [(h, c or None), each (R, H)]; steps past a row's length are padding, read by no one."""
    if x.shape[1] == 0:
        return x.new_zeros(len(x), 0, model.cfg.top_size)
    out = x
    for module, first in modules(model):
        layers = initial[first:first + module.num_layers]
        h0 = torch.stack([h for h, _ in layers])  # (layers, R, H)
        lstm = isinstance(module, torch.nn.LSTM)  # a mixed stack's layers differ
        out, _ = module(out, (h0, torch.stack([c for _, c in layers])) if lstm else h0)
    return out

