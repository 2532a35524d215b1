"""The recurrent layers' forward and a backward through time for dx alone, in torch, by hand.

autograd's backward through torch's CPU RNNs replays every step's dozen recorded operations
with their bookkeeping; only dx is wanted here (no weight gradients), so each step back needs
one matmul and a few products with derivative factors that the forward made while that step's
gates were in cache; dx for all steps is then one matmul. The equations are torch's, as in the
numpy engine, whose `Direction` this mirrors; so are the gate layouts (GRU r, z, n), but for the
LSTM's i, f, g, o, reordered o, i, f, g here. The step loops themselves are TorchScript (torch_loops).

Time-major inside (T, B, ...): each step's slice is contiguous, so the per-step matmuls and
in-place updates need no copies. Variable lengths: the backward direction runs over each text
reversed within its own length, so padding always comes after a run's real steps, where
nothing can reach them: outputs there are zeroed, and no gradient flows back from them. No
work is done there either where it can be skipped: steps after the longest text are not run,
and with rows sorted by length (as the pipeline sends them) each step skips the rows whose
text has ended.
Shapes: B batch, T time, I layer input, H hidden, G gates * H.
"""

import contextlib
import threading

import torch


class Scratch:
    """Per-thread scratch memory for one batch's arrays (gates, states, derivative factors, their
    gradients), reused batch after batch: fresh arrays of a few MB each batch cost page faults
    whenever the C allocator has handed the memory back to the system in between. Only arrays
    that die with the batch come from here, never an engine's results. A batch that would pass
    BYTES gets fresh arrays for the rest; pages never touched are never resident."""

    BYTES = 64 << 20
    _local = threading.local()

    def __init__(self):
        self.offset, self.buffer = 0, None

    @classmethod
    @contextlib.contextmanager
    def batch(cls):
        """This thread's scratch for the body, from its start (a body nested in one goes on after
        the outer body's arrays)."""
        local = cls._local
        if getattr(local, "busy", False):
            yield
            return
        local.busy = True
        local.__dict__.setdefault("scratch", cls()).offset = 0
        try:
            yield
        finally:
            local.busy = False

    @classmethod
    def empty(cls, like, *shape):
        """An uninitialized array of `shape`, like `like`: from this thread's scratch where a batch
        holds it and it has room, else new."""
        local = cls._local
        if not getattr(local, "busy", False):
            return like.new_empty(shape)
        return local.scratch.take(like, shape)

    def take(self, like, shape):
        n = 1
        for k in shape:
            n *= k
        if self.buffer is None or self.buffer.dtype != like.dtype or self.buffer.device != like.device:
            if self.offset:  # this batch's arrays so far are in the old one
                return like.new_empty(shape)
            self.buffer = like.new_empty(self.BYTES // like.element_size())
        if self.offset + n > len(self.buffer):
            return like.new_empty(shape)
        out = self.buffer[self.offset: self.offset + n].view(shape)
        self.offset += -(-n // 16) * 16  # starts 64-byte aligned (float32)
        return out


class Direction:
    """One direction of one layer: torch's weights for it, `forward` keeping what `backward` needs."""

    def __init__(self, cell, nonlinearity, w_ih, w_hh, b_ih, b_hh):
        self.cell, self.relu = cell, nonlinearity == "relu"
        if cell == "lstm":  # gates o, i, f, g: the sigmoid ones one block (torch_loops.lstm_forward)
            w_ih, w_hh, b_ih, b_hh = (torch.cat([w[3 * len(w) // 4:], w[: 3 * len(w) // 4]])
                                      for w in (w_ih, w_hh, b_ih, b_hh))
        self.w_ih, self.w_hh = w_ih, w_hh  # (G, I), (G, H)
        self.w_ih_t, self.w_hh_t = w_ih.t().contiguous(), w_hh.t().contiguous()
        # GRU keeps b_hh apart: its n gate multiplies (W_hn h + b_hn) by r.
        self.b_x = b_ih if cell == "gru" else b_ih + b_hh
        self.b_hh = b_hh
        self.H = w_hh.shape[1]

    def projections(self, X):
        """(T, B, I) layer inputs -> (T, B, G) input projections W_i x_t + b, one matmul."""
        T, B, _ = X.shape
        out = Scratch.empty(X, T * B, self.w_ih_t.shape[1])
        return torch.addmm(self.b_x, X.reshape(T * B, -1), self.w_ih_t, out=out).view(T, B, -1)

    def forward(self, A, state=None, first=None, pad=0.0):
        """(T, B, G) input projections, which it overwrites -> ((T, B, H) hidden states, the cache
        for backward). state: the initial (h, c), each (1, H) (a zero-start model's; c None but
        for an LSTM), or None for zeros. first: per step, the first row still inside its text
        (rows sorted by length), or None. pad: what an LSTM's or GRU's states hold where a step
        skipped a row (a vanilla RNN's keep their input projections there: the caller masks them)."""
        from .torch_loops import compiled

        T, B, _ = A.shape
        H, empty = self.H, Scratch.empty
        first = [0] * T if first is None else first
        if self.cell == "gru":  # the recurrent term, with b_hh, is the loop's (the n gate needs it apart)
            h0 = A.new_zeros(B, H) if state is None else state[0].expand(B, H).contiguous()
            Hs, by_dh, to_h = empty(A, T, B, H).fill_(pad), empty(A, T, B, 3, H), empty(A, T, B, 3, H)
            compiled("gru_forward")(A, self.w_hh_t, self.b_hh, h0, Hs, by_dh, to_h, first)
            return Hs, (A, by_dh, to_h, first)
        if state is not None:  # h0's recurrent term joins step 0
            A[0].add_(state[0] @ self.w_hh_t)
        if self.cell == "rnn":
            compiled("rnn_forward")(A, self.w_hh_t, self.relu, first)  # A becomes h_t in place
            return A, first
        # The backward's derivative factors are made while each step's gates are still in cache (in
        # bulk after the loop they cost more).
        Hs = empty(A, T, B, H).fill_(pad)
        by_dc, by_dh, dc_by_dh = empty(A, T, B, 3, H), empty(A, T, B, H), empty(A, T, B, H)
        compiled("lstm_forward")(A, self.w_hh_t, None if state is None else state[1], Hs, by_dc, by_dh, dc_by_dh,
                                 first)
        return Hs, (A, by_dc, by_dh, dc_by_dh, first)

    def backward(self, dHs, Hs, cache):
        """dF/d(hidden states) (T, B, H) -> dF/dX (T, B, I), back through time."""
        from .torch_loops import compiled

        T, B, _ = dHs.shape
        dA = Scratch.empty(dHs, T, B, self.w_hh.shape[0])
        if self.cell == "lstm":
            compiled("lstm_backward")(dHs, *cache[:4], self.w_hh, cache[4], dA)
        elif self.cell == "gru":
            A, by_dh, to_h, first = cache
            compiled("gru_backward")(dHs, A, by_dh, to_h, self.w_hh, first, dA)
        else:
            compiled("rnn_backward")(dHs, Hs, self.w_hh, self.relu, cache, dA)
        return (dA.reshape(T * B, -1) @ self.w_ih).view(T, B, -1)


class TokenProjections:
    """The first layer's input projection of each token id, E[id] W_i^T + b, kept as tokens are
    first seen: where the inputs are exactly the tokens' embeddings (the gradient at the input
    itself), a batch's projections are rows read from here, not a matmul over its positions (on
    SST-2 dev, once the rows for its 3,355 distinct tokens are in, the engine's gradient 1.09x, one
    thread).
    A table whose size would pass TABLE_BYTES is never made."""

    # sst2-lstm: 14,145 tokens x 1,024 float32 projections, 58 MB, of which only rows seen are touched
    TABLE_BYTES = 64 << 20

    def __init__(self, direction, embed, vocab_size):
        self.direction, self.embed, self.vocab_size = direction, embed, vocab_size
        self.table = self.known = None
        self.lock = threading.Lock()  # batches side by side fill it at once

    @property
    def fits(self) -> bool:
        w = self.direction.w_ih
        return self.vocab_size * w.shape[0] * w.element_size() <= self.TABLE_BYTES

    def __call__(self, ids):
        """(T, B) ids -> (T, B, G), as Direction.projections(embed(ids)) gives them."""
        flat = ids.reshape(-1)
        with self.lock:
            if self.table is None:
                w = self.direction.w_ih
                self.table = w.new_empty(self.vocab_size, w.shape[0])
                self.known = torch.zeros(self.vocab_size, dtype=torch.bool, device=w.device)
            new = torch.unique(flat[~self.known[flat]])
            if len(new):
                # Rows made two or more at a time: a one-row matmul takes another BLAS path whose
                # last digits differ, and which batch first meets a token depends on timing when
                # batches run side by side (a score moved in the sixth digit, one run in four).
                rows = new if len(new) > 1 else new.repeat(2)
                with torch.no_grad():
                    self.table[new] = self.direction.projections(self.embed(rows)[None])[0][: len(new)]
                self.known[new] = True
        out = Scratch.empty(self.table, len(flat), self.table.shape[1])
        return torch.index_select(self.table, 0, flat, out=out).view(*ids.shape, -1)


def reverse_within_length(X, lengths):
    """(T, B, ...) with each column's first `length` steps reversed, padding left at the end."""
    T = X.shape[0]
    t = torch.arange(T, device=X.device)[:, None]
    index = torch.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)  # (T, B)
    return X.gather(0, index.view(T, -1, *(1,) * (X.dim() - 2)).expand_as(X))


class Layers:
    """The recurrent body of an RNNModel and its pooling, run by hand: `features` gives the head's
    input, `backward` turns its gradient into dx. Time-major inside, (T, B, D*H)."""

    def __init__(self, model):
        cfg = self.cfg = model.cfg
        self.model = model  # a zero-start model's initial states come from its own zero step
        if cfg.uniform:
            weight = lambda layer, p, s: getattr(model.rnn, f"{p}_l{layer}{s}")
        else:  # LayerStack: one module per layer, each with torch's layer-0 names
            weight = lambda layer, p, s: getattr(model.rnn[layer], f"{p}_l0{s}")
        self.layers = [
            [Direction(cfg.cells[layer], cfg.nonlinearity, *(weight(layer, p, s).detach()
                                                    for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")))
             for s in ("", "_reverse")[: cfg.directions]]
            for layer in range(cfg.layers)
        ]
        self.token_projections = [TokenProjections(d, model.embed, cfg.vocab_size) for d in self.layers[0]]

    @staticmethod
    def scratch():
        """The context a batch's `features` and `backward` run in: their arrays from this thread's scratch."""
        return Scratch.batch()

    def features(self, x, lengths, ids=None):
        """(B, T, E), (B,) -> (the head's input, cache): a classifier's pooled outputs (B, D*H),
        as RNNModel.pool gives them, or every position's outputs (B, T, D*H), zero at padding.
        ids: (B, T) the tokens x is exactly the embedding of, or None (engines/base.py)."""
        pooling = None if self.cfg.per_position else self.cfg.pooling
        # Max pooling reads the outputs with padding at -inf, where the loops leave it: no masking pass.
        out, cache = self.forward(x, lengths, float("-inf") if pooling == "max" else 0.0, ids)
        if pooling is None:
            return padded_to(out.transpose(0, 1), x.shape[1]), (pooling, out, None, x.shape[1], cache)
        pooled = pool(pooling, out, lengths, self.cfg.top_size)
        return pooled, (pooling, out, pooled, x.shape[1], cache)

    def forward(self, x, lengths, pad=0.0, ids=None):
        """(B, T, E), (B,) -> ((T', B, D*H) the top layer's outputs, `pad` at padding, cache);
        T' is the longest length: steps after it reach nothing and are not run (a chunk of path
        points or noisy copies of short texts comes padded to its batch's longest). ids: as
        `features` takes them."""
        T = int(lengths.max())
        mask = (torch.arange(T, device=x.device)[:, None] < lengths[None, :])[..., None]  # (T, B, 1)
        first = rows_inside(lengths, T)
        # Every padded step skipped (sorted rows), or none padded: no step reads padding, and LSTM
        # and GRU states hold `pad` there, so neither their outputs nor the gradients coming back
        # need masking (a pass over each saved).
        skipped = first[-1] > 0 or int(lengths.min()) == T
        clean = skipped and all(d.cell != "rnn" for layer in self.layers for d in layer)
        caches = []
        for number, (layer, start) in enumerate(zip(self.layers, self.starts())):
            fill = pad if number == len(self.layers) - 1 else 0.0  # lower layers' outputs feed the next
            if number == 0 and ids is not None and self.token_projections[0].fits:
                tokens = ids[:, :T].t()
                inputs = [tokens] if len(layer) == 1 else [tokens, reverse_within_length(tokens, lengths)]
                projected = [table(tokens) for table, tokens in zip(self.token_projections, inputs)]
            else:
                X = x[:, :T].transpose(0, 1).contiguous() if number == 0 else out
                inputs = [X] if len(layer) == 1 else [X, reverse_within_length(X, lengths)]
                projected = [direction.projections(X) for direction, X in zip(layer, inputs)]
            runs = [direction.forward(A, start if k == 0 else None, first, fill)
                    for k, (direction, A) in enumerate(zip(layer, projected))]
            parts = [runs[0][0]] + [reverse_within_length(hs, lengths) for hs, _ in runs[1:]]
            caches.append(runs)
            out = torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]
            if not clean:
                out = out * mask if fill == 0.0 else out.masked_fill(~mask, fill)
        return out, (mask, lengths, caches, skipped)

    def starts(self):
        """Per layer, the initial (h, c) ((1, H) each; c None but for an LSTM), or None: zeros."""
        if not self.model.cfg.zero_start:
            return [None] * len(self.layers)
        with torch.no_grad():
            final = self.model.zero_step()
        per_layer = final if isinstance(final, list) else [  # one module: split (L, 1, H) by layer
            tuple(s[k:k + 1] for s in final) if isinstance(final, tuple) else final[k:k + 1]
            for k in range(len(self.layers))]
        return [(s[0][0], s[1][0]) if isinstance(s, tuple) else (s[0], None) for s in per_layer]

    def backward(self, dfeatures, cache):
        """dF/d(the head's input) -> dF/dx (B, T, E), zero at padding."""
        pooling, out, pooled, T_in, (mask, lengths, caches, skipped) = cache
        if pooling is None:
            d = dfeatures[:, : out.shape[0]].transpose(0, 1)
        else:
            d = pool_backward(pooling, out, pooled, dfeatures, lengths, self.cfg.top_size)
        for layer, runs in zip(reversed(self.layers), reversed(caches)):
            d = d.contiguous() if skipped else (d * mask).contiguous()
            H = layer[0].H
            dx = layer[0].backward(d[..., :H].contiguous(), *runs[0])
            if len(layer) == 2:
                back = reverse_within_length(d[..., H:], lengths).contiguous()
                dx = dx + reverse_within_length(layer[1].backward(back, *runs[1]), lengths)
            d = dx
        return padded_to(d.transpose(0, 1), T_in)  # zeros at padding: no gradient reached it


def pool(pooling, out, lengths, H):
    """RNNModel.pool on time-major outputs (T, B, D*H), `-inf` at padding for max pooling and zero
    otherwise: (B, D*H). H: the forward direction's width, the top layer's size (the rest, if any, is
    the backward direction's)."""
    if pooling == "max":
        return out.amax(dim=0)
    if pooling == "mean":
        return out.sum(dim=0) / lengths.to(out.dtype)[:, None]
    # last: the forward direction ends at the last real step; the backward one, at step 0
    pooled = out[lengths - 1, torch.arange(out.shape[1], device=out.device)]
    return pooled if H == out.shape[-1] else torch.cat([pooled[:, :H], out[0, :, H:]], dim=-1)


def pool_backward(pooling, out, pooled, dpooled, lengths, H):
    """dF/d(outputs) (T, B, D*H) from dF/d(pooled) (B, D*H): the derivative of `pool`."""
    if pooling == "max":  # to the winners; tied winners share, as autograd's amax gives it
        # The winners' 0/1 mask made as floats in one comparison (bool masks are slower to use).
        winners = torch.eq(out, pooled, out=Scratch.empty(out, *out.shape))
        return winners.mul_(dpooled / winners.sum(dim=0))
    if pooling == "mean":  # every step alike (padding is skipped or masked after)
        return (dpooled / lengths.to(out.dtype)[:, None]).expand(out.shape)
    dout = out.new_zeros(out.shape)
    dout[lengths - 1, torch.arange(out.shape[1], device=out.device), :H] = dpooled[:, :H]
    dout[0, :, H:] += dpooled[:, H:]
    return dout


def rows_inside(lengths, T):
    """Per step, the first row still inside its text, for rows sorted by length ascending: the
    rows before it have ended and need no work (torch_loops). Rows in another order: all zeros."""
    if len(lengths) > 1 and bool((lengths[1:] < lengths[:-1]).any()):
        return [0] * T
    return torch.searchsorted(lengths, torch.arange(T, device=lengths.device, dtype=lengths.dtype), right=True).tolist()


def padded_to(out, T):
    """(B, T', ...) outputs or gradients with zeros after step T' up to T."""
    if out.shape[1] == T:
        return out
    return torch.cat([out, out.new_zeros(out.shape[0], T - out.shape[1], *out.shape[2:])], dim=1)


def valid_steps(lengths, T):
    """(B, T, 1): True at a text's real steps."""
    return (torch.arange(T, device=lengths.device)[None, :] < lengths[:, None])[..., None]


def masked_for_max(out, lengths):
    """(B, T, D*H) outputs with padding at -inf, so that max pooling never picks it (the outputs
    themselves when no text of the batch is padded)."""
    T = out.shape[1]
    if int(lengths.min()) == T:
        return out
    return out.masked_fill(~valid_steps(lengths, T), float("-inf"))
