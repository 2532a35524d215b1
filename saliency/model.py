"""The torch engine: one nn.Module for vanilla RNN, LSTM and GRU classifiers and language models.

Embedding is a separate step (`embed`) from the network (`forward` on embeddings), so that
gradients are taken with respect to the embedded input x_t, never the integer ids.
Shapes: B batch, T time, E input size, H hidden size, D directions, C outputs.
"""

import contextlib

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .config import ModelConfig

RNN_CLASSES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RNNModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.embedding_dim:
            self.embedding = nn.Embedding(cfg.vocab_size, cfg.embedding_dim, padding_idx=0)
        extra = {"nonlinearity": cfg.nonlinearity} if cfg.cell == "rnn" else {}
        self.rnn = RNN_CLASSES[cfg.cell](
            cfg.input_size, cfg.hidden_size, num_layers=cfg.layers, batch_first=True,
            bidirectional=cfg.bidirectional, dropout=cfg.dropout if cfg.layers > 1 else 0.0, **extra,
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden_size * cfg.directions, cfg.output_size)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, T, E) inputs: embedding rows, or one-hot vectors for a one-hot model."""
        if self.cfg.embedding_dim:
            return self.embedding(ids)
        return F.one_hot(ids, self.cfg.vocab_size).to(self.head.weight.dtype)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, E) inputs, (B,) true lengths -> (B, C) logits, or (B, T, V) for a language model."""
        B, T, _ = x.shape
        # Packing makes padding invisible: each direction starts and ends at the text's true ends.
        packed = pack_padded_sequence(self.drop(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_out, final = self.rnn(packed)
        out, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=T)  # (B, T, D*H)
        if self.cfg.head == "lm":
            return self.head(self.drop(out))  # (B, T, V)
        if self.cfg.pooling == "last":
            h_n = final[0] if self.cfg.cell == "lstm" else final  # (L*D, B, H)
            pooled = torch.cat(list(h_n[-self.cfg.directions:]), dim=-1)  # last layer, both directions
        else:
            valid = (torch.arange(T, device=x.device)[None, :] < lengths.to(x.device)[:, None])[..., None]
            if self.cfg.pooling == "max":
                pooled = out.masked_fill(~valid, float("-inf")).amax(dim=1)
            else:
                pooled = (out * valid).sum(dim=1) / lengths.to(x.device, out.dtype)[:, None]
        return self.head(self.drop(pooled))  # (B, C)

    def weights(self) -> dict:
        return {k: v.detach().cpu().numpy() for k, v in self.state_dict().items()}

    @classmethod
    def from_weights(cls, cfg: ModelConfig, weights: dict, dtype=torch.float32) -> "RNNModel":
        model = cls(cfg).to(dtype)  # before loading, so float64 weights keep every digit
        model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in weights.items()})
        return model.eval()


def select_objective(logits, positions, classes, objective):
    """The scalar explained for each example: a logit or a log-probability, at a position for an LM."""
    if objective == "logprob":
        logits = logits.log_softmax(dim=-1)
    rows = torch.arange(logits.shape[0], device=logits.device)
    if logits.dim() == 3:
        return logits[rows, positions, classes]
    return logits[rows, classes]


class TorchEngine:
    """Numpy arrays in and out around RNNModel, the interface every attribution method uses."""

    name = "torch"

    def __init__(self, model_file, dtype="float32", device="cpu"):
        self.config = model_file.config
        self.device = torch.device(device)
        self.torch_dtype = getattr(torch, dtype)
        self.dtype = np.dtype(dtype)
        self.model = RNNModel.from_weights(self.config, model_file.weights, self.torch_dtype).to(self.device)

    def _tensor(self, a):
        return torch.as_tensor(np.asarray(a), device=self.device)

    @torch.no_grad()
    def embed(self, ids: np.ndarray) -> np.ndarray:
        return self.model.embed(self._tensor(ids)).cpu().numpy()

    @torch.no_grad()
    def forward(self, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return self.model(self._tensor(x).to(self.torch_dtype), self._tensor(lengths)).cpu().numpy()

    def gradient(self, x, lengths, positions, classes, objective="logit"):
        """(logits, values (B,), dx (B, T, E)): each example's objective F and dF/dx_t.

        A class of -1 means the predicted (argmax) output at that position. One backward over
        the sum: examples are independent, so each gets exactly its own gradient.
        """
        x = self._tensor(x).to(self.torch_dtype).requires_grad_(True)
        positions, classes = self._tensor(positions), self._tensor(classes)
        with torch.enable_grad(), self._cudnn_for_backward():
            logits = self.model(x, self._tensor(lengths))
            at = logits[torch.arange(len(x)), positions] if logits.dim() == 3 else logits
            classes = torch.where(classes < 0, at.argmax(-1), classes)
            values = select_objective(logits, positions, classes, objective)
            (dx,) = torch.autograd.grad(values.sum(), x)
        return logits.detach().cpu().numpy(), values.detach().cpu().numpy(), dx.cpu().numpy()

    def _cudnn_for_backward(self):
        # cuDNN refuses an RNN backward in eval mode, and train mode would switch dropout on:
        # keep eval mode and turn cuDNN off for this backward only.
        if self.device.type == "cuda":
            return torch.backends.cudnn.flags(enabled=False)
        return contextlib.nullcontext()
