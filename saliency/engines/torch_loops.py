"""The LSTM's two step loops of torch_bptt, compiled with TorchScript: each runs as one call that
holds Python's GIL once, not once per small operation, so batches side by side do not wait on
each other between operations (and each step dispatches with less overhead)."""

import warnings
from typing import List, Optional

import torch

with warnings.catch_warnings():  # TorchScript's deprecation notice: it still compiles, and nothing else here does
    warnings.simplefilter("ignore")

    @torch.jit.script
    def lstm_forward(A: torch.Tensor, w_hh_t: torch.Tensor, c0: Optional[torch.Tensor], Hs: torch.Tensor,
                     by_dc: torch.Tensor, by_dh: torch.Tensor, dc_by_dh: torch.Tensor):
        T, B, H = Hs.shape[0], Hs.shape[1], Hs.shape[2]
        gates = A.view(T, B, 4, H)
        c = A.new_zeros(B, H)
        c_prev = A.new_zeros(B, H)
        tanh_c = A.new_empty(B, H)
        square = A.new_empty(B, H)
        slope = A.new_empty(B, 4, H)
        slope_flat = slope.view(B, 4 * H)
        started = c0 is not None
        if c0 is not None:
            c.copy_(c0.expand(B, H))
        for t in range(T):
            a = A[t]
            i, f, g, o = gates[t, :, 0], gates[t, :, 1], gates[t, :, 2], gates[t, :, 3]
            if t > 0:
                a.addmm_(Hs[t - 1], w_hh_t)
            gates[t, :, :2].sigmoid_()
            g.tanh_()
            o.sigmoid_()
            c, c_prev = c_prev, c
            torch.mul(i, g, out=c)
            if t > 0 or started:
                c.addcmul_(f, c_prev)
            torch.tanh(c, out=tanh_c)
            torch.mul(o, tanh_c, out=Hs[t])
            torch.addcmul(a, a, a, value=-1, out=slope_flat)
            torch.mul(g, slope[:, 0], out=by_dc[t, :, 0])
            if t > 0 or started:
                torch.mul(c_prev, slope[:, 1], out=by_dc[t, :, 1])
            else:
                by_dc[t, :, 1].zero_()
            torch.mul(g, g, out=square)
            torch.addcmul(i, i, square, value=-1, out=by_dc[t, :, 2])
            torch.mul(tanh_c, slope[:, 3], out=by_dh[t])
            torch.mul(tanh_c, tanh_c, out=square)
            torch.addcmul(o, o, square, value=-1, out=dc_by_dh[t])

    @torch.jit.script
    def lstm_backward(dHs: torch.Tensor, A: torch.Tensor, by_dc: torch.Tensor, by_dh: torch.Tensor,
                      dc_by_dh: torch.Tensor, w_hh: torch.Tensor) -> torch.Tensor:
        T, B, H = dHs.shape[0], dHs.shape[1], dHs.shape[2]
        f = A.view(T, B, 4, H)[:, :, 1]
        dA = torch.empty_like(A)
        d4 = dA.view(T, B, 4, H)
        dc = A.new_zeros(B, H)
        for k in range(T):
            t = T - 1 - k
            if t == T - 1:
                dh = dHs[t]
            else:
                dh = torch.addmm(dHs[t], dA[t + 1], w_hh)
            dc_now = dh * dc_by_dh[t]
            if t < T - 1:
                dc_now.addcmul_(dc, f[t + 1])
            dc = dc_now
            torch.mul(dc.unsqueeze(1), by_dc[t], out=d4[t, :, :3])
            torch.mul(dh, by_dh[t], out=d4[t, :, 3])
        return dA
