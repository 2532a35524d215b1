"""Layer-wise relevance propagation (LRP) for recurrent models.

Arras, Montavon, Müller & Samek 2017, "Explaining Recurrent Neural Network Predictions in
Sentiment Analysis" (arXiv 1706.07206); Bach et al. 2015 for LRP itself. The explained score F
(a logit, or a difference of two) is the relevance at the output, and is passed down, layer by
layer and back through time, to the inputs: score_t = the relevance that reaches x_t.

- Linear maps z_j = sum_i x_i w_ij + b_j take the epsilon rule:
      R_i = sum_j (x_i w_ij + bias_factor * (b_j + eps * s_j) / N) / (z_j + eps * s_j) * R_j,
  s_j = sign(z_j) (+1 at 0), N the map's inputs. With bias_factor 1 the bias and stabiliser
  shares are handed down as well, so relevance is conserved; with 0 they are absorbed.
- Products gate * signal (LSTM i*g, o*tanh(c); GRU (1-z)*n, z*h, r*(W h + b)): the signal
  takes all the relevance, the gate none ("signal-take-all"). Arras et al. give the rule for
  the multiplicative connections "as they arise in ... LSTMs and GRUs", so it serves both.
- Element-wise non-linearities (tanh, relu) pass relevance through unchanged.
- Sums of two terms (c = f*c_prev + i*g; h = (1-z)*n + z*h_prev) are linear maps with no bias.
- Pooling: max pooling is winner-take-all (the pooled value is the winner's value, so the winner
  is all of it; ties share equally); mean pooling is a linear map (weights 1/T): epsilon rule.

The arithmetic is float64 numpy on the weights read out of either engine (recorded.py).
"""

import math
from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from .arrays import to_numpy
from .base import Attributions, Method, contrast_class, register
from .recorded import network_of

PER_POSITION_HEADS = ("lm", "tagger")  # heads that read the outputs at one position (no pooling)


def ratios(z, R, eps):
    """(R / (z + eps s), s): the relevance per unit of a map's output, and the sign s of z.
    A zero denominator (eps 0 and z 0) passes no relevance down."""
    s = np.where(z >= 0, 1.0, -1.0)
    denom = z + eps * s
    return np.divide(R, denom, out=np.zeros_like(R), where=denom != 0), s


def shares(q, s, b, eps, bias_factor, n):
    """(B, 1): what each of a map's n inputs gets of its outputs' bias and stabiliser terms."""
    if not bias_factor:
        return 0.0
    return (bias_factor / n) * ((b + eps * s) * q).sum(-1, keepdims=True)


def sum_rule(z1, z2, R, eps, bias_factor):
    """Relevance of y = z1 + z2 (element-wise, no bias) to its two terms."""
    q, s = ratios(z1 + z2, R, eps)
    share = bias_factor * eps * s * q / 2
    return z1 * q + share, z2 * q + share


def cell_relevance(d, steps, R_out, eps, bias_factor):
    """One direction back through time: relevance of its outputs (B, T, H) -> (relevance of its
    inputs (B, T, I), relevance held by its zero initial state (B,))."""
    B, T, H = R_out.shape
    W_x, W_h = d.w_ih, d.w_hh
    n = W_x.shape[1] + H  # inputs of each pre-activation: x_t and h_{t-1}
    R_X = np.empty((B, T, W_x.shape[1]))
    R_h, R_c = np.zeros((B, H)), np.zeros((B, H))
    for t in reversed(range(T)):
        st = steps[t]
        R_h = R_h + R_out[:, t]
        x, h_prev = st["x"], st["h_prev"]
        if d.cell == "lstm":
            R_c = R_c + R_h  # h = o * tanh(c): all to c
            R_c, R_g = sum_rule(st["f"] * st["c_prev"], st["i"] * st["g"], R_c, eps, bias_factor)  # i*g: all to g
            rows = slice(2 * H, 3 * H)
            q, s = ratios(st["a_g"], R_g, eps)
            share = shares(q, s, d.b_ih[rows] + d.b_hh[rows], eps, bias_factor, n)
            R_X[:, t] = x * (q @ W_x[rows]) + share
            R_h = h_prev * (q @ W_h[rows]) + share
        elif d.cell == "gru":
            R_n, R_kept = sum_rule((1 - st["z"]) * st["n"], st["z"] * h_prev, R_h, eps, bias_factor)
            # a_n = W_in x + b_in + r * (W_hn h + b_hn): with r a gate, a linear map of (x, h)
            rows, r = slice(2 * H, 3 * H), st["r"]
            q, s = ratios(st["a_n"], R_n, eps)
            share = shares(q, s, d.b_ih[rows] + r * d.b_hh[rows], eps, bias_factor, n)
            R_X[:, t] = x * (q @ W_x[rows]) + share
            R_h = h_prev * ((q * r) @ W_h[rows]) + share + R_kept
        else:
            q, s = ratios(st["a"], R_h, eps)
            share = shares(q, s, d.b_ih + d.b_hh, eps, bias_factor, n)
            R_X[:, t] = x * (q @ W_x) + share
            R_h = h_prev * (q @ W_h) + share
    return R_X, R_h.sum(-1) + R_c.sum(-1)


def head_relevance(net, out, lengths, positions, classes, objective, eps, bias_factor):
    """The explained score F (B,) and its relevance on the top layer's outputs (B, T, D*H)."""
    cfg, rows = net.config, np.arange(len(out))
    w, b = net.head_w[classes], net.head_b[classes]  # F = w . v + b, one output unit per row
    against = contrast_class(objective)
    if against is not None:  # F = logit(class) - logit(against): still one linear unit
        w, b = w - net.head_w[against], b - net.head_b[against]
    v = out[rows, positions] if cfg.head in PER_POSITION_HEADS else net.pool(out, lengths)
    F = (v * w).sum(-1) + b
    q, s = ratios(F, F, eps)  # the relevance at the output is F itself
    R_v = v * w * q[:, None] + shares(q[:, None], s[:, None], b[:, None], eps, bias_factor, v.shape[1])
    R_out = np.zeros_like(out)
    mask = (np.arange(out.shape[1])[None, :] < lengths[:, None])[..., None]
    if cfg.head in PER_POSITION_HEADS:
        R_out[rows, positions] = R_v
    elif cfg.pooling == "last":
        H = cfg.top_size
        R_out[rows, lengths - 1, :H] = R_v[:, :H]
        if cfg.bidirectional:
            R_out[:, 0, H:] += R_v[:, H:]
    elif cfg.pooling == "max":  # winner-take-all; ties share equally
        masked = np.where(mask, out, -np.inf)
        winners = masked == masked.max(axis=1, keepdims=True)
        R_out = winners * (R_v / winners.sum(axis=1))[:, None, :]
    else:  # mean: v_j = sum_t out_tj / L, a linear map with L inputs per unit and no bias
        L = lengths[:, None].astype(np.float64)
        q2, s2 = ratios(v, R_v, eps)
        R_out = (out / L[..., None] * q2[:, None, :] + (bias_factor * eps * s2 * q2 / L)[:, None, :]) * mask
    return F, R_out


def relevance(net, x, lengths, positions, classes, objective="logit", eps=0.001, bias_factor=0.0):
    """(R_x (B, T, E), R_init (B,), F (B,)): relevance on each input component, relevance
    held by the zero initial states (h and c, every layer and direction), and F."""
    from ..engines.numpy_engine import reverse_within_length

    if contrast_class(objective) is None and objective != "logit":
        raise UsageError("lrp explains a logit (or, with --contrast, a difference of two): "
                         "--objective logprob is not a linear map of the last layer")
    x, lengths = np.asarray(x, np.float64), np.asarray(lengths)
    out, records = net.run(x, lengths)
    F, R = head_relevance(net, out, lengths, np.asarray(positions), np.asarray(classes), objective, eps,
                          bias_factor)
    R_init = np.zeros(len(x))
    for layer, record in zip(reversed(net.layers), reversed(records)):
        below, start = 0.0, 0
        for k, (d, steps) in enumerate(zip(layer, record)):
            part = R[..., start:start + d.H]
            start += d.H
            if k == 1:  # the reverse direction ran over each text reversed within its length
                part = reverse_within_length(part, lengths)
            R_X, held = cell_relevance(d, steps, part, eps, bias_factor)
            below = below + (R_X if k == 0 else reverse_within_length(R_X, lengths))
            R_init += held
        R = below
    return R, R_init, F


@register
@dataclass
class LRP(Method):
    name = "lrp"
    signed = True
    epsilon: float = 0.001  # stabiliser of the epsilon rule
    bias_factor: float = 0.0  # 1: biases' and stabilisers' shares are handed down (conservation)

    def validate(self):
        for option, value in (("--epsilon", self.epsilon), ("--bias-factor", self.bias_factor)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise UsageError(f"{option} must be a number, not {value!r}")
        if self.epsilon < 0:
            raise UsageError(f"--epsilon must be 0 or more (got {self.epsilon})")
        if not 0 <= self.bias_factor <= 1:
            raise UsageError(f"--bias-factor must be between 0 and 1 (got {self.bias_factor})")

    def attribute(self, engine, batch) -> Attributions:
        net = network_of(engine)
        R_x, _, values = relevance(net, to_numpy(batch.x), batch.lengths, batch.positions, batch.classes,
                                   batch.objective, self.epsilon, self.bias_factor)
        mask = batch.mask()
        scores = R_x.sum(-1) * mask
        # "Completeness": relevance that did not reach the tokens (bias and stabiliser shares
        # absorbed, what the zero initial states were given). Conservation: F = sum + this.
        delta = scores.sum(-1) - values
        return Attributions(scores, values, R_x * mask[..., None] if batch.vectors else None, delta=delta,
                            reference=np.zeros_like(values))
