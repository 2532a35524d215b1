"""The recurrent layers' step loops of torch_bptt (LSTM, GRU, vanilla RNN, forward and back),
compiled with TorchScript: each runs as one call that holds Python's GIL once, not once per small
operation, so batches side by side do not wait on each other between operations (and each step
dispatches with less overhead).

`first[t]`: the first row still inside its text at step t. Rows come sorted by length ascending
(the pipeline's batches and chunks are), so the rows whose text has ended form a prefix, and a
step works on the rows after it only: padding costs no work (rows in another order pass all
zeros: every row is worked on). A row that has ended gets zero gradient, and its state is left
as it was, where nothing reads it.

Measured and not kept: the LSTM's gates laid out i, f, o, g with c and tanh(c) beside them in a
(B, 6, H) row per step, so that the sigmoid gates are one block and the factors come from wider
operations (11 a forward step instead of 16): 3% slower on SST-2 dev's batches, one thread, as
its wider rows and strided views cost more than the operations saved.
"""

import threading
import warnings
from typing import List, Optional

import torch

_compiled, _lock, _first_runs = {}, threading.Lock(), threading.Lock()


def compiled(name):
    """The loop `name`, compiled on first use (about 5 ms each; a model needs its own cell's two)."""
    with _lock:
        if name not in _compiled:
            with warnings.catch_warnings():  # TorchScript's deprecation notice: it still compiles
                warnings.simplefilter("ignore")
                _compiled[name] = Loop(torch.jit.script(globals()[name]))
        return _compiled[name]


class Loop:
    """A compiled loop whose first runs go one at a time. TorchScript plans a function during its
    first runs (profiling, then optimizing); two batches making those runs at once, side by side
    in a fresh process, sometimes gave a short text scores that differed in the fifth or sixth
    digit from every later run (SST-2 train's first 1,024 texts: about one process in three),
    so a run's output depended on timing. Later runs go side by side."""

    FIRST_RUNS = 2  # the profiled run, and the one that builds the optimized plan

    def __init__(self, script):
        self.script, self.runs = script, {}  # per dtype and device: each is planned on its own

    def __call__(self, *args):
        key = (args[0].dtype, args[0].device)
        if self.runs.get(key, 0) >= self.FIRST_RUNS:
            return self.script(*args)
        with _first_runs:
            out = self.script(*args)
            self.runs[key] = self.runs.get(key, 0) + 1
        return out


def lstm_forward(A: torch.Tensor, w_hh_t: torch.Tensor, c0: Optional[torch.Tensor], Hs: torch.Tensor,
                 by_dc: torch.Tensor, by_dh: torch.Tensor, dc_by_dh: torch.Tensor, first: List[int]):
    """A (T, B, 4H): the input projections (and h0's term at step 0), gates o, i, f, g (torch's
    rows reordered, so that the three sigmoid gates are one block), made the gates in place.
    c0 (1, H) or None for zeros. Hs (T, B, H): the hidden states, written at each step's rows still
    inside their texts (the others keep what they held).
    The backward's factors: dF/d(pre-activations of i, f, g) are dc times by_dc[t] (T, B, 3, H); of
    o, dh times by_dh[t]; and dc gets dh times dc_by_dh[t]."""
    T, B, H = Hs.shape[0], Hs.shape[1], Hs.shape[2]
    c, c_prev = A.new_zeros(B, H), A.new_zeros(B, H)
    tanh_c = A.new_empty(B, H)
    slope = A.new_empty(B, 2, H)
    started = c0 is not None
    if c0 is not None:
        c.copy_(c0.expand(B, H))
    for t in range(T):
        s = first[t]
        a = A[t, s:]
        if t > 0:
            a.addmm_(Hs[t - 1, s:], w_hh_t)
        a.narrow(1, 0, 3 * H).sigmoid_()
        g4 = a.view(-1, 4, H)
        o, i, f, g = g4.unbind(1)  # one operation for four views (indexing makes two each)
        g.tanh_()
        c, c_prev = c_prev, c
        cs, cp, tc, sl, h = c[s:], c_prev[s:], tanh_c[s:], slope[s:], Hs[t, s:]
        k_i, k_f, k_g = by_dc[t, s:].unbind(1)
        torch.mul(i, g, out=cs)
        torch.addcmul(i, cs, g, value=-1, out=k_g)  # i (1 - g^2), from i g while cs still holds it
        if t > 0 or started:
            cs.addcmul_(f, cp)
        torch.tanh(cs, out=tc)
        torch.mul(o, tc, out=h)
        sigmoids = g4.narrow(1, 1, 2)
        torch.addcmul(sigmoids, sigmoids, sigmoids, value=-1, out=sl)  # s (1 - s) of i, f
        slope_i, slope_f = sl.unbind(1)
        torch.mul(g, slope_i, out=k_i)
        if t > 0 or started:
            torch.mul(cp, slope_f, out=k_f)
        else:
            k_f.zero_()
        torch.addcmul(h, h, o, value=-1, out=by_dh[t, s:])  # tanh(c) o (1 - o) = h - h o
        torch.addcmul(o, h, tc, value=-1, out=dc_by_dh[t, s:])  # o (1 - tanh(c)^2) = o - h tanh(c)


def lstm_backward(dHs: torch.Tensor, A: torch.Tensor, by_dc: torch.Tensor, by_dh: torch.Tensor,
                  dc_by_dh: torch.Tensor, w_hh: torch.Tensor, first: List[int], dA: torch.Tensor):
    """dF/dh_t (T, B, H), which it overwrites -> dA: dF/d(pre-activations) (T, B, 4H), gates o, i, f, g."""
    T, B, H = dHs.shape[0], dHs.shape[1], dHs.shape[2]
    f = A.view(T, B, 4, H)[:, :, 2]
    d4 = dA.view(T, B, 4, H)
    dc = A.new_zeros(B, H)
    for k in range(T):
        t = T - 1 - k
        s = first[t]
        if s > 0:
            dA[t, :s].zero_()
        dh = dHs[t, s:]
        if t < T - 1:  # in place: an addmm into a new tensor runs as a matmul and an addition
            dh.addmm_(dA[t + 1, s:], w_hh)  # rows ended at t + 1: dA zero there
        dc_now = dh * dc_by_dh[t, s:]
        if t < T - 1:  # through c_{t+1} = f_{t+1} c_t + ...: rows still inside at t + 1 only
            n = first[t + 1]
            dc_now[n - s:].addcmul_(dc, f[t + 1, n:])
        dc = dc_now
        d_t = d4[t, s:]
        torch.mul(dc.unsqueeze(1), by_dc[t, s:], out=d_t.narrow(1, 1, 3))
        torch.mul(dh, by_dh[t, s:], out=d_t.select(1, 0))


def gru_forward(A: torch.Tensor, w_hh_t: torch.Tensor, b_hh: torch.Tensor, h0: torch.Tensor, Hs: torch.Tensor,
                by_dh: torch.Tensor, to_h: torch.Tensor, first: List[int]):
    """A (T, B, 3H): the input projections W_i x + b_i of r, z, n, made the gates in place. h0
    (B, H) the initial state; Hs (T, B, H): the hidden states, written as lstm_forward's are. The backward's
    factors, made while each step is in cache: dF/d(pre-activations of r, z, n) are dh times
    by_dh[t] (T, B, 3, H); dF/d(W_h h + b_h) are dh times to_h[t]."""
    T, B, H = Hs.shape[0], Hs.shape[1], Hs.shape[2]
    hw, slope = A.new_empty(B, 3 * H), A.new_empty(B, 2 * H)
    square, n_h = A.new_empty(B, H), A.new_empty(B, H)
    for t in range(T):
        s = first[t]
        a, w, sl, nh = A[t, s:], hw[s:], slope[s:], n_h[s:]
        h = h0[s:] if t == 0 else Hs[t - 1, s:]
        torch.addmm(b_hh, h, w_hh_t, out=w)  # W_h h + b_h for r, z and n
        a[:, : 2 * H].add_(w[:, : 2 * H]).sigmoid_()  # r, z
        r, z, n, hn = a[:, :H], a[:, H: 2 * H], a[:, 2 * H:], w[:, 2 * H:]
        n.addcmul_(r, hn).tanh_()  # n = tanh(W_in x + b_in + r * hn)
        torch.sub(h, n, out=nh)
        torch.addcmul(n, z, nh, out=Hs[t, s:])  # (1 - z) * n + z * h
        torch.addcmul(a[:, : 2 * H], a[:, : 2 * H], a[:, : 2 * H], value=-1, out=sl)  # s (1 - s)
        k = by_dh[t, s:]
        sq = square[s:]
        torch.mul(n, n, out=sq)
        torch.neg(z, out=k[:, 2]).add_(1.0)  # 1 - z
        k[:, 2].addcmul_(k[:, 2], sq, value=-1)  # (1 - z)(1 - n^2)
        torch.mul(k[:, 2], hn, out=k[:, 0])
        k[:, 0].mul_(sl[:, :H])  # ... * hn * r (1 - r)
        torch.mul(nh, sl[:, H:], out=k[:, 1])  # (h_prev - n) z (1 - z)
        to_h[t, s:, :2] = k[:, :2]
        torch.mul(k[:, 2], r, out=to_h[t, s:, 2])


def gru_backward(dHs: torch.Tensor, A: torch.Tensor, by_dh: torch.Tensor, to_h: torch.Tensor,
                 w_hh: torch.Tensor, first: List[int], dA_out: torch.Tensor):
    """dF/dh_t (T, B, H) -> dA_out: dF/d(pre-activations) (T, B, 3H)."""
    T, B, H = dHs.shape[0], dHs.shape[1], dHs.shape[2]
    z = A.view(T, B, 3, H)[:, :, 1]
    dA, dW = dA_out.view(T, B, 3, H), A.new_zeros(B, 3, H)
    dW_flat = dW.view(B, 3 * H)
    dhs = [A.new_empty(B, H), A.new_empty(B, H)]
    dh = dHs[T - 1, first[T - 1]:]
    for k in range(T):
        t = T - 1 - k
        s = first[t]
        if s > 0:
            dA[t, :s].zero_()
        if t < T - 1:  # dh_t = dF/dh_t directly + through step t+1's W_h h (rows ended there: dW 0) and z * h
            prev, n = dh, first[t + 1]
            dh = torch.addmm(dHs[t, s:], dW_flat[s:], w_hh, out=dhs[k % 2][s:])
            dh[n - s:].addcmul_(prev, z[t + 1, n:])
        torch.mul(dh.unsqueeze(1), by_dh[t, s:], out=dA[t, s:])
        torch.mul(dh.unsqueeze(1), to_h[t, s:], out=dW[s:])


def rnn_forward(A: torch.Tensor, w_hh_t: torch.Tensor, relu: bool, first: List[int]):
    """A (T, B, H): the input projections, made the hidden states in place (a row's steps
    after its text has ended keep their projections: the caller masks them)."""
    for t in range(A.shape[0]):
        s = first[t]
        a = A[t, s:]
        if t > 0:
            a.addmm_(A[t - 1, s:], w_hh_t)
        if relu:
            a.relu_()
        else:
            a.tanh_()


def rnn_backward(dHs: torch.Tensor, Hs: torch.Tensor, w_hh: torch.Tensor, relu: bool,
                 first: List[int], dA: torch.Tensor):
    """dF/dh_t (T, B, H) -> dA: dF/d(pre-activations) (T, B, H)."""
    T, B, H = dHs.shape[0], dHs.shape[1], dHs.shape[2]
    square = dHs.new_empty(B, H)
    for k in range(T):
        t = T - 1 - k
        s = first[t]
        if s > 0:
            dA[t, :s].zero_()
        dh = dHs[t, s:] if t == T - 1 else torch.addmm(dHs[t, s:], dA[t + 1, s:], w_hh)
        h = Hs[t, s:]
        if relu:
            torch.mul(dh, h > 0, out=dA[t, s:])
        else:
            torch.mul(h, h, out=square[s:])
            torch.addcmul(dh, dh, square[s:], value=-1, out=dA[t, s:])  # dh (1 - h^2)
