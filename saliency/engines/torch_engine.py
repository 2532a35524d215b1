"""The torch engine: one nn.Module for vanilla RNN, LSTM and GRU classifiers, language models and taggers.

Embedding is a separate step (`embed`) from the network (`forward` on embeddings), so that
gradients are taken with respect to the embedded input x_t, never the integer ids.
Shapes: B batch, T time, E input size, H hidden size, D directions, C outputs.
"""

import contextlib
import re

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from ..modelfile.config import ModelConfig
from ..objective import Objective, outputs_at, resolve_classes
from .base import Engine
from .threads import (cut_in_halves, fitted_threads, running_side_by_side, side_by_side, side_by_side_possible,
                      single_threaded, stop_if_abandoned)
from .torch_bptt import masked_for_max, pool, valid_steps

RNN_CLASSES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "linear": lambda z: z}


class RNNModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.embedding_dim:
            self.embedding = nn.Embedding(cfg.vocab_size, cfg.embedding_dim, padding_idx=0)
        if cfg.uniform:
            extra = {"nonlinearity": cfg.nonlinearity} if cfg.cell == "rnn" else {}
            self.rnn = RNN_CLASSES[cfg.cell](
                cfg.input_size, cfg.hidden_size, num_layers=cfg.layers, batch_first=True,
                bidirectional=cfg.bidirectional, dropout=cfg.dropout if cfg.layers > 1 else 0.0, **extra,
            )
        else:
            self.rnn = LayerStack(cfg)
        self.drop = nn.Dropout(cfg.dropout)
        sizes = [cfg.top_size * cfg.directions] + [size for size, _ in cfg.head_hidden]
        if cfg.head_hidden:  # a classifier's hidden layers before the output (an MLP head)
            self.head_hidden = nn.ModuleList(nn.Linear(i, o) for i, o in zip(sizes, sizes[1:]))
        self.head = nn.Linear(sizes[-1], cfg.output_size)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, T, E) inputs: embedding rows, or one-hot vectors for a one-hot model."""
        if self.cfg.embedding_dim:
            return self.embedding(ids)
        return F.one_hot(ids, self.cfg.vocab_size).to(self.head.weight.dtype)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, E) inputs, (B,) true lengths -> (B, C) logits, or (B, T, V) for a language model
        ((B, T, C) for a tagger)."""
        T = x.shape[1]
        on_device = lengths.to(x.device)
        starts = self.initial_states(len(x))
        if self.needs_packing(lengths, T):
            # Packing makes padding invisible: each direction starts and ends at the text's true ends.
            packed = pack_padded_sequence(self.drop(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = pad_packed_sequence(self.rnn(packed, starts)[0], batch_first=True, total_length=T)  # (B, T, D*H)
        else:
            # Unpacked is about 15% faster. Steps past a text's end cannot reach its earlier outputs
            # in one direction; they are zeroed, as packing leaves them, and never pooled.
            out, _ = self.rnn(self.drop(x), starts)
            if T > int(lengths.min()):
                out = out * valid_steps(on_device, T)
        return self.readout(out, on_device)

    def zero_step(self):
        """Every layer's state after a zero input vector, from zero states: a zero-start model's
        initial states, as the recurrent module returns them ((L, 1, H), or (h, c) for an LSTM;
        a LayerStack: a list of those, one per layer)."""
        w = self.head.weight
        _, final = self.rnn(w.new_zeros(1, 1, self.cfg.input_size))
        return final

    def initial_states(self, B: int):
        """The states the network starts from for a batch of B: None (zeros) unless zero_start."""
        if not self.cfg.zero_start:
            return None
        return _expand(self.zero_step(), B)

    def top(self, features: torch.Tensor) -> torch.Tensor:
        """The head: hidden layers with their activations (if any), then the output layer."""
        for layer, (_, activation) in zip(getattr(self, "head_hidden", ()), self.cfg.head_hidden):
            features = ACTIVATIONS[activation](layer(features))
        return self.head(features)

    def readout(self, out: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The head over the top layer's outputs (B, T, D*H), zero at padding: pooled for a
        classifier, at every position for a language model or a tagger."""
        if self.cfg.per_position:  # lm, tagger: every position's output
            return self.head(self.drop(out))  # (B, T, V or C)
        return self.top(self.drop(self.pool(out, lengths.to(out.device))))  # (B, C)

    def pool(self, out: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """A classifier's (B, D*H) summary of the outputs over time: torch_bptt.pool (whose
        derivative the CPU backward uses) on the outputs seen time-major, padding at -inf for max."""
        if self.cfg.pooling == "max":
            out = masked_for_max(out, lengths)
        return pool(self.cfg.pooling, out.transpose(0, 1), lengths, self.cfg.top_size)

    def needs_packing(self, lengths: torch.Tensor, T: int) -> bool:
        """Training always packs (numbers as they were); explaining packs only where padding would
        reach real steps: a bidirectional model over texts of several lengths."""
        return self.training or (self.cfg.bidirectional and int(lengths.min()) < T)

    def weights(self) -> dict:
        """Tensors under the model file's names (torch's names for one multi-layer module)."""
        rename = LayerStack.file_name if isinstance(self.rnn, LayerStack) else str
        return {rename(k): v.detach().cpu().numpy() for k, v in self.state_dict().items()}

    @classmethod
    def from_weights(cls, cfg: ModelConfig, weights: dict, dtype=torch.float32) -> "RNNModel":
        model = cls(cfg).to(dtype)  # before loading, so float64 weights keep every digit
        rename = str if cfg.uniform else LayerStack.module_name
        model.load_state_dict({rename(k): torch.from_numpy(np.asarray(v)) for k, v in weights.items()})
        return model.eval()


class LayerStack(nn.ModuleList):
    """Layers of different sizes or cells (imported Keras stacks such as LSTM 128 -> LSTM 64, or
    GRU -> SimpleRNN), one module each.

    torch's multi-layer modules need one size for all layers. Outside this class the tensors keep
    the names a multi-layer module gives them (rnn.weight_ih_l1 is layer 1's rnn.1.weight_ih_l0).
    """

    FILE = re.compile(r"rnn\.(\w+?)_l(\d+)(_reverse)?$")
    MODULE = re.compile(r"rnn\.(\d+)\.(\w+?)_l0(_reverse)?$")

    def __init__(self, cfg: ModelConfig):
        sizes = cfg.hidden_sizes
        inputs = [cfg.input_size] + [h * cfg.directions for h in sizes[:-1]]
        super().__init__(RNN_CLASSES[cell](i, h, batch_first=True, bidirectional=cfg.bidirectional,
                                           **({"nonlinearity": cfg.nonlinearity} if cell == "rnn" else {}))
                         for i, h, cell in zip(inputs, sizes, cfg.cells))
        self.dropout = cfg.dropout  # between layers, as torch's own dropout argument (a float: no module)

    def forward(self, x, starts=None):
        """A PackedSequence or a (B, T, I) tensor, as torch's modules take; starts: a list, one
        initial state per layer ((1, B, H_k), or (h, c) for an LSTM), or None for zeros."""
        finals = []
        for k, layer in enumerate(self):
            if k and isinstance(x, PackedSequence):
                x = x._replace(data=F.dropout(x.data, self.dropout, self.training))
            elif k:
                x = F.dropout(x, self.dropout, self.training)
            x, final = layer(x, None if starts is None else starts[k])
            finals.append(final)
        return x, finals  # every layer's final state, (D, B, H_k) (or (h, c) for an LSTM)

    @classmethod
    def module_name(cls, name: str) -> str:
        m = cls.FILE.match(name)
        return f"rnn.{m[2]}.{m[1]}_l0{m[3] or ''}" if m else name

    @classmethod
    def file_name(cls, name: str) -> str:
        m = cls.MODULE.match(name)
        return f"rnn.{m[2]}_l{m[1]}{m[3] or ''}" if m else name


def _expand(state, B: int):
    """A state for batch 1 (a tensor (L, 1, H), an LSTM's (h, c), or a list per layer) for B."""
    if isinstance(state, list):
        return [_expand(s, B) for s in state]
    if isinstance(state, tuple):
        return tuple(_expand(s, B) for s in state)
    return state.expand(-1, B, -1).contiguous()


class TorchEngine(Engine):
    """Around RNNModel, the engine contract (engines/base.py) with every capability. Numpy arrays
    in, numpy out (tests, the Python API); tensors in, tensors on the engine's device out (the
    methods' own path, so path points and copies never leave the device until the results do)."""

    name = "torch"
    resumable = True

    def __init__(self, model_file, dtype="float32", device="cpu"):
        self.config = model_file.config
        self.device = torch.device(device)
        self.torch_dtype = getattr(torch, dtype)
        self.dtype = np.dtype(dtype)
        self.model = RNNModel.from_weights(self.config, model_file.weights, self.torch_dtype).to(self.device)
        # Only dx is wanted, never the weights' gradients: frozen, autograd skips their work.
        self.model.requires_grad_(False)

    def _tensor(self, a):
        return torch.as_tensor(a, device=self.device)

    def asarray(self, a, dtype=None):
        """A numpy array as this engine's own array (a tensor on its device)."""
        return torch.as_tensor(np.asarray(a, dtype), device=self.device)

    def _threads(self):
        stop_if_abandoned()
        if self.device.type != "cpu" or self.side_by_side:
            return contextlib.nullcontext()
        return fitted_threads(torch)

    @property
    def side_by_side(self) -> bool:
        """True in a batch run side by side, on one single-threaded worker per core (a context
        variable of threads.py, not a flag on the engine: other callers' batches are their own)."""
        return running_side_by_side()

    def parallel_scope(self):
        """The scope for batches side by side (threads.side_by_side), or None on a GPU, where
        one batch at a time keeps the device busy."""
        return None if self.device.type != "cpu" else lambda: single_threaded(torch)

    @staticmethod
    def _out(like, *tensors):
        if isinstance(like, torch.Tensor):
            return tensors if len(tensors) > 1 else tensors[0]
        arrays = tuple(t.detach().cpu().numpy() for t in tensors)
        return arrays if len(arrays) > 1 else arrays[0]

    @torch.no_grad()
    def embed(self, ids):
        return self._out(ids, self.model.embed(self._tensor(ids)))

    @torch.no_grad()
    def forward(self, x, lengths):
        with self._threads():
            return self._out(x, self.model(self._tensor(x).to(self.torch_dtype), self._tensor(lengths)))

    def gradient(self, x, lengths, positions, classes, objective=Objective(), ids=None):
        """(logits, values (B,), dx (B, T, E)): each example's objective F and dF/dx_t.

        A class of PREDICTION (-1) means the predicted (argmax) output at that position. One
        backward over the sum: examples are independent, so each gets exactly its own gradient. On
        the CPU the recurrent layers' backward is written for dx alone (torch_bptt); autograd
        differentiates only the head, whose gradient with respect to the outputs starts it.
        """
        by_hand = self.backward_by_hand and self.device.type == "cpu"
        threads = self._threads
        if by_hand and not self.side_by_side:  # on the caller's thread, where torch's threads would run it
            if len(lengths) > 1 and side_by_side_possible():
                return self._gradient_in_halves(x, lengths, positions, classes, objective, ids)
            threads = lambda: single_threaded(torch)  # one row: 1 thread, whatever the load (see below)
        like = x
        x = self._tensor(x).to(self.torch_dtype).detach()
        lengths = self._tensor(lengths)
        positions, classes = self._tensor(positions), self._tensor(classes)
        # The by-hand layers' arrays for this batch come from this thread's scratch, and die in it.
        scratch = self.layers.scratch() if by_hand else contextlib.nullcontext()
        with scratch, torch.enable_grad(), self._cudnn_for_backward(), threads():
            if by_hand:  # autograd only from the head's input: pooled features, or every position's
                features, cache = self.layers.features(x, lengths, None if ids is None else self._tensor(ids))
                start = features.detach().requires_grad_(True)
                logits = self.model.top(start)
            else:
                start = x.requires_grad_(True)
                logits = self.model(start, lengths)
            classes = resolve_classes(outputs_at(logits, positions), classes)
            values = Objective.of(objective).values(logits, positions, classes)
            (grad,) = torch.autograd.grad(values.sum(), start)
            if by_hand:
                grad = self.layers.backward(grad, cache)
        return self._out(like, logits.detach(), values.detach(), grad)

    def _gradient_in_halves(self, x, lengths, positions, classes, objective, ids):
        """gradient() of rows run on the caller's thread (one text's path points or noisy copies,
        a batch explained alone) as two halves of about equal steps, side by side on the two
        single-threaded workers, where torch's threads would share one. Faster (one text's integrated
        gradients, 50 steps: see docs/performance.md), and its digits do not follow the thread
        count: 1 and 2 threads split the backward's matmuls (K = 4H) differently, and the count
        fitted to a busy machine's free cores changes with its load. A single row runs on 1 thread
        for the same reason (2 gain it little: 4% on an 800-token text). Against torch's 2 threads
        on the whole, 50 path points of a text: 21 tokens 12.1 ms against 9.3 (the halves' own
        Python), 62 tokens 24.5 against 26.3, 763 tokens 392 against 476; 1 thread: 13.6, 40.6, 721."""
        k = cut_in_halves(np.asarray(lengths).tolist())  # lengths are on the CPU here
        parts = [slice(0, k), slice(k, None)]

        def run(part):
            return self.gradient(x[part], lengths[part], positions[part], classes[part], objective,
                                 None if ids is None else ids[part])

        halves = list(side_by_side(run, parts, self.parallel_scope()))
        join = torch.cat if isinstance(halves[0][0], torch.Tensor) else np.concatenate
        return tuple(join([a, b]) for a, b in zip(*halves))

    @torch.no_grad()
    def states(self, x, lengths):
        """Per layer (h, c or None), each (B, T+1, H): the state entering every step, for prefix
        reuse (saliency/engines/prefix.py); one-directional models only."""
        from .torch_resume import step_states

        with self._threads():
            states = step_states(self.model, self._tensor(x).to(self.torch_dtype))
        if isinstance(x, torch.Tensor):
            return states
        return [tuple(None if s is None else s.cpu().numpy() for s in layer) for layer in states]

    @torch.no_grad()
    def resume(self, x, lengths, initial, prefix=None):
        """As NumpyEngine.resume: logits of suffixes x run on from per-layer states `initial`."""
        from .prefix import Prefix, pool_after
        from .torch_resume import run_from

        initial = [tuple(None if s is None else self._tensor(s) for s in layer) for layer in initial]
        if prefix is not None:
            prefix = Prefix(self._tensor(prefix.summary), np.asarray(prefix.steps))
        with self._threads():
            out = run_from(self.model, self._tensor(x).to(self.torch_dtype), initial)
            if prefix is None:  # lm, tagger: every step's output
                return self._out(x, self.model.head(out))
            return self._out(x, self.model.top(pool_after(self.config.pooling, out, np.asarray(lengths), prefix)))

    def weights(self) -> dict:
        return self.model.weights()

    def torch_module(self):
        return self.model

    @property
    def layers(self):
        """The recurrent layers as torch_bptt runs them (made on first use)."""
        if self._layers is None:
            from .torch_bptt import Layers

            self._layers = Layers(self.model)
        return self._layers

    _layers = None
    # False: autograd through torch's own modules instead (bench/compare.py measures both paths).
    backward_by_hand = True

    def _cudnn_for_backward(self):
        # cuDNN refuses an RNN backward in eval mode, and train mode would switch dropout on:
        # keep eval mode and turn cuDNN off for this backward only.
        if self.device.type == "cuda":
            return torch.backends.cudnn.flags(enabled=False)
        return contextlib.nullcontext()
