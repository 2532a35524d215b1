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

from .attribution.base import contrast_class
from .config import ModelConfig
from .threads import fitted_threads, single_threaded, stop_if_abandoned

RNN_CLASSES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


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
        self.head = nn.Linear(cfg.top_size * cfg.directions, cfg.output_size)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, T, E) inputs: embedding rows, or one-hot vectors for a one-hot model."""
        if self.cfg.embedding_dim:
            return self.embedding(ids)
        return F.one_hot(ids, self.cfg.vocab_size).to(self.head.weight.dtype)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, E) inputs, (B,) true lengths -> (B, C) logits, or (B, T, V) for a language model
        ((B, T, C) for a tagger)."""
        B, T, _ = x.shape
        valid = (torch.arange(T, device=x.device)[None, :] < lengths.to(x.device)[:, None])[..., None]  # (B, T, 1)
        if self.needs_packing(lengths, T):
            # Packing makes padding invisible: each direction starts and ends at the text's true ends.
            packed = pack_padded_sequence(self.drop(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
            packed_out, final = self.rnn(packed)
            out, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=T)  # (B, T, D*H)
            h_n = final[0] if self.cfg.cell == "lstm" else final  # (L*D, B, H)
            last = torch.cat(list(h_n[-self.cfg.directions:]), dim=-1)  # last layer, both directions
        else:
            # Unpacked is about 15% faster. Steps past a text's end cannot reach its earlier outputs
            # in one direction; they are zeroed, as packing leaves them, and never pooled.
            out, final = self.rnn(self.drop(x))
            if T > int(lengths.min()):
                out = out * valid
            last = out[torch.arange(B, device=x.device), lengths.to(x.device) - 1]  # (B, D*H)
            if self.cfg.bidirectional:  # all texts of this batch are T long: the reverse direction ends at 0
                H = self.cfg.top_size
                last = torch.cat([last[:, :H], out[:, 0, H:]], dim=-1)
        if self.cfg.per_position:  # lm, tagger: every position's output
            return self.head(self.drop(out))  # (B, T, V or C)
        if self.cfg.pooling == "last":
            pooled = last
        elif self.cfg.pooling == "max":
            pooled = out.masked_fill(~valid, float("-inf")).amax(dim=1)
        else:
            pooled = (out * valid).sum(dim=1) / lengths.to(x.device, out.dtype)[:, None]
        return self.head(self.drop(pooled))  # (B, C)

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
    """Layers of different sizes (imported Keras stacks such as LSTM 128 -> LSTM 64), one module each.

    torch's multi-layer modules need one size for all layers. Outside this class the tensors keep
    the names a multi-layer module gives them (rnn.weight_ih_l1 is layer 1's rnn.1.weight_ih_l0).
    """

    FILE = re.compile(r"rnn\.(\w+?)_l(\d+)(_reverse)?$")
    MODULE = re.compile(r"rnn\.(\d+)\.(\w+?)_l0(_reverse)?$")

    def __init__(self, cfg: ModelConfig):
        extra = {"nonlinearity": cfg.nonlinearity} if cfg.cell == "rnn" else {}
        sizes = cfg.hidden_sizes
        inputs = [cfg.input_size] + [h * cfg.directions for h in sizes[:-1]]
        super().__init__(RNN_CLASSES[cfg.cell](i, h, batch_first=True, bidirectional=cfg.bidirectional, **extra)
                         for i, h in zip(inputs, sizes))
        self.dropout = cfg.dropout  # between layers, as torch's own dropout argument (a float: no module)

    def forward(self, x):
        """A PackedSequence or a (B, T, I) tensor, as torch's modules take."""
        for k, layer in enumerate(self):
            if k and isinstance(x, PackedSequence):
                x = x._replace(data=F.dropout(x.data, self.dropout, self.training))
            elif k:
                x = F.dropout(x, self.dropout, self.training)
            x, final = layer(x)
        return x, final  # final: the last layer's, (D, B, H) as h_n[-D:] of one module

    @classmethod
    def module_name(cls, name: str) -> str:
        m = cls.FILE.match(name)
        return f"rnn.{m[2]}.{m[1]}_l0{m[3] or ''}" if m else name

    @classmethod
    def file_name(cls, name: str) -> str:
        m = cls.MODULE.match(name)
        return f"rnn.{m[2]}_l{m[1]}{m[3] or ''}" if m else name


def select_objective(logits, positions, classes, objective):
    """The scalar explained for each example: a logit or a log-probability, at a position for an LM;
    or the difference of two logits (a contrast, see attribution.base.contrast_class)."""
    against = contrast_class(objective)
    if against is not None:
        return (select_objective(logits, positions, classes, "logit")
                - select_objective(logits, positions, torch.full_like(classes, against), "logit"))
    if objective == "logprob":
        logits = logits.log_softmax(dim=-1)
    rows = torch.arange(logits.shape[0], device=logits.device)
    if logits.dim() == 3:
        return logits[rows, positions, classes]
    return logits[rows, classes]


class TorchEngine:
    """Around RNNModel, the interface every attribution method uses. Numpy arrays in, numpy out
    (tests, the Python API); tensors in, tensors on the engine's device out (the methods' own
    path, so path points and copies never leave the device until the results do)."""

    name = "torch"

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

    side_by_side = False  # True while batches run side by side, one single-threaded worker per core

    def parallel_scope(self):
        """The scope for batches side by side (threads.side_by_side), or None on a GPU, where
        one batch at a time keeps the device busy."""
        return None if self.device.type != "cpu" else lambda: single_threaded(torch, self)

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

    def gradient(self, x, lengths, positions, classes, objective="logit"):
        """(logits, values (B,), dx (B, T, E)): each example's objective F and dF/dx_t.

        A class of -1 means the predicted (argmax) output at that position. One backward over
        the sum: examples are independent, so each gets exactly its own gradient.
        """
        like = x
        x = self._tensor(x).to(self.torch_dtype).detach().requires_grad_(True)
        positions, classes = self._tensor(positions), self._tensor(classes)
        with torch.enable_grad(), self._cudnn_for_backward(), self._threads():
            logits = self.model(x, self._tensor(lengths))
            at = logits[torch.arange(len(x), device=self.device), positions] if logits.dim() == 3 else logits
            classes = torch.where(classes < 0, at.argmax(-1), classes)
            values = select_objective(logits, positions, classes, objective)
            (dx,) = torch.autograd.grad(values.sum(), x)
        return self._out(like, logits.detach(), values.detach(), dx)

    def _cudnn_for_backward(self):
        # cuDNN refuses an RNN backward in eval mode, and train mode would switch dropout on:
        # keep eval mode and turn cuDNN off for this backward only.
        if self.device.type == "cuda":
            return torch.backends.cudnn.flags(enabled=False)
        return contextlib.nullcontext()
