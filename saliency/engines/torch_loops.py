"""The recurrent layers' step loops of torch_bptt (LSTM, GRU, vanilla RNN, forward and back),
compiled with TorchScript: each runs as one call that holds Python's GIL once, not once per small
operation, so batches side by side do not wait on each other between operations (and each step
dispatches with less overhead).

Gate order here is i, f, o, g (torch_bptt.Direction permutes torch's i, f, g, o once), so the
three sigmoid gates are one block, and each step's slots are laid out so that the backward's
derivative factors come from few, wide operations (11 a step forward, 6 back, where the
straightforward way took 16 and 5: each operation's fixed cost is a large part of its time at
64 x 256). A step's row of `A`, (B, 6, H), holds slots

    0 i   1 f   2 o   3 g   4 c_{t-1}   5 tanh(c_t)

so the slopes [i', f', o'] times slots 3:6 = [g, c_{t-1}, tanh c_t] give three factors at once,
and slots (0, 2) = [i, o] and (3, 5) = [g, tanh c_t], each one strided view, give the other two.
The factors `K[t]` (B, 5, H): dF/d(pre-activations of i, f) = dc * K[:, 0:2], of o = dh * K[:, 2],
of g = dc * K[:, 3]; and dc = dh * K[:, 4] + dc_{t+1} * f_{t+1}.

`first[t]`: the first row still inside its text at step t. Rows come sorted by length ascending
(the pipeline's batches and chunks are), so the rows whose text has ended form a prefix, and a
step works on the rows after it only: padding costs no work (rows in another order pass all
zeros: every row is worked on, as before). A row that has ended gets zero gradient, and its
state is left as it was, where nothing reads it.
"""

import threading
import warnings
from typing import List

import torch

_compiled, _lock = {}, threading.Lock()


def compiled(name):
    """The loop `name`, compiled on first use (about 5 ms each; a model needs its own cell's two)."""
    with _lock:
        if name not in _compiled:
            with warnings.catch_warnings():  # TorchScript's deprecation notice: it still compiles
                warnings.simplefilter("ignore")
                _compiled[name] = torch.jit.script(globals()[name])
        return _compiled[name]


def lstm_forward(A: torch.Tensor, w_hh_t: torch.Tensor, started: bool, Hs: torch.Tensor, K: torch.Tensor,
                 first: List[int]):
    """A (T+1, B, 6, H): on entry, rows 0..T-1 slots 0:4 the input projections (and h0's
    term), row 0 slot 4 c0 (zeros unless `started`). Hs (T, B, H), zeros on entry: the
    hidden states. K (T, B, 5, H): the factors."""
    T, B, H = Hs.shape[0], Hs.shape[1], Hs.shape[2]
    flat = A.view(A.shape[0], B, 6 * H)
    k_flat = K.view(T, B, 5 * H)
    square = A.new_empty(B, 2, H)
    for t in range(T):
        s = first[t]
        a, v = flat[t, s:], A[t, s:]  # this step's rows still in their texts: (b, 6H), (b, 6, H)
        if t > 0:
            a[:, : 4 * H].addmm_(Hs[t - 1, s:], w_hh_t)
        a[:, : 3 * H].sigmoid_()
        v[:, 3].tanh_()
        c = A[t + 1, s:, 4]  # c_t, where step t + 1 finds it as c_{t-1}
        torch.mul(v[:, 0], v[:, 3], out=c)
        if t > 0 or started:
            c.addcmul_(v[:, 1], v[:, 4])
        torch.tanh(c, out=v[:, 5])
        torch.mul(v[:, 2], v[:, 5], out=Hs[t, s:])
        k = k_flat[t, s:]
        torch.addcmul(a[:, : 3 * H], a[:, : 3 * H], a[:, : 3 * H], value=-1, out=k[:, : 3 * H])  # s (1 - s)
        k[:, : 3 * H].mul_(a[:, 3 * H:])  # [g i', c_{t-1} f', tanh(c_t) o']
        q = square[s:]
        torch.mul(v[:, 3::2], v[:, 3::2], out=q)  # [g^2, tanh(c_t)^2]
        torch.addcmul(v[:, 0:3:2], v[:, 0:3:2], q, value=-1, out=K[t, s:, 3:5])  # [i (1 - g^2), o (1 - tanh^2)]


def lstm_backward(dHs: torch.Tensor, A: torch.Tensor, K: torch.Tensor, w_hh: torch.Tensor,
                  first: List[int]) -> torch.Tensor:
    """dF/dh_t (T, B, H) -> dF/d(pre-activations) (T, B, 4H), gates i, f, o, g."""
    T, B, H = dHs.shape[0], dHs.shape[1], dHs.shape[2]
    dA = A.new_empty(T, B, 4, H)
    flat = dA.view(T, B, 4 * H)
    dcs = [A.new_empty(B, H), A.new_empty(B, H)]  # dc of this step and of the step after, alternately
    dh_out = A.new_empty(B, H)
    for k in range(T):
        t = T - 1 - k
        s = first[t]
        if s > 0:
            dA[t, :s].zero_()
        if t == T - 1:
            dh = dHs[t, s:]
        else:
            dh = torch.addmm(dHs[t, s:], flat[t + 1, s:], w_hh, out=dh_out[s:])
        dc = dcs[k % 2][s:]
        torch.mul(dh, K[t, s:, 4], out=dc)
        if t < T - 1:  # through c_{t+1} = f_{t+1} c_t + ...: rows still inside at t + 1 only
            n = first[t + 1]
            dc[n - s:].addcmul_(dcs[(k + 1) % 2][n:], A[t + 1, n:, 1])
        torch.mul(dc.unsqueeze(1), K[t, s:, 0:2], out=dA[t, s:, 0:2])
        torch.mul(dh, K[t, s:, 2], out=dA[t, s:, 2])
        torch.mul(dc, K[t, s:, 3], out=dA[t, s:, 3])
    return flat


def gru_forward(A: torch.Tensor, w_hh_t: torch.Tensor, b_hh: torch.Tensor, h0: torch.Tensor, Hs: torch.Tensor,
                by_dh: torch.Tensor, to_h: torch.Tensor, first: List[int]):
    """A (T, B, 3H): the input projections W_i x + b_i of r, z, n, made the gates in place. h0
    (B, H) the initial state; Hs (T, B, H), zeros on entry: the hidden states. The backward's
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
                 w_hh: torch.Tensor, first: List[int]) -> torch.Tensor:
    """dF/dh_t (T, B, H) -> dF/d(pre-activations) (T, B, 3H)."""
    T, B, H = dHs.shape[0], dHs.shape[1], dHs.shape[2]
    z = A.view(T, B, 3, H)[:, :, 1]
    dA, dW = A.new_empty(T, B, 3, H), A.new_zeros(B, 3, H)
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
    return dA.view(T, B, 3 * H)


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
                 first: List[int]) -> torch.Tensor:
    """dF/dh_t (T, B, H) -> dF/d(pre-activations) (T, B, H)."""
    T, B, H = dHs.shape[0], dHs.shape[1], dHs.shape[2]
    dA, square = torch.empty_like(dHs), dHs.new_empty(B, H)
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
    return dA
