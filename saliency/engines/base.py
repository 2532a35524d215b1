"""The engine contract: what the pipeline, the methods and the tools may ask of an engine.

An engine runs one network forward and back. Three implement this contract: TorchEngine
(torch_engine.py: a model file's network in torch, any device), NumpyEngine (numpy_engine.py: the
same network by hand, fast start-up) and ModuleEngine (user_module.py: a user's own nn.Module).
Callers ask an engine directly, never probe it with hasattr: every engine has every member below
(each engine class names Engine as its base, and a test checks each against it with real calls).
An optional capability an engine lacks raises `Unsupported` (a NotImplementedError naming the
engine and the capability): the defaults here do, so an engine that lacks one simply does not
define it; the caller that can do without it says so in the user's terms.

Arrays: numpy in, numpy out (the Python API, the tests, the tools); the engine's own arrays in
(`asarray`: tensors on its device for the torch engine), its own arrays out (the methods' path).
Shapes: B batch, T time, E input size, C outputs (V for a language model's vocabulary).
"""

from typing import Protocol, runtime_checkable

import numpy as np

from ..objective import Objective


class Unsupported(NotImplementedError):
    """An optional capability this engine does not have."""

    def __init__(self, engine, capability: str):
        super().__init__(f"the {engine.name} engine has no {capability}")
        self.engine_name, self.capability = engine.name, capability


@runtime_checkable
class EngineConfig(Protocol):
    """What methods read of an engine's config (a model file's ModelConfig has these and more)."""

    head: str  # classifier | lm | tagger
    vocab_size: int
    embedding_dim: int  # the input vectors' size; 0: one-hot inputs of size vocab_size

    @property
    def per_position(self) -> bool:  # lm and tagger: an output at every position
        ...


@runtime_checkable
class Engine(Protocol):
    name: str  # "torch", "numpy", "torch-module": what --engine and messages call it
    config: EngineConfig
    dtype: object  # numpy dtype of its arrays (float32, float64)
    device: object  # "cpu", or the torch.device it computes on

    # -- every engine -------------------------------------------------------------------------
    def embed(self, ids):
        """(B, T) ids -> (B, T, E) input vectors x_t (embedding rows, or one-hot vectors)."""
        raise NotImplementedError

    def forward(self, x, lengths):
        """(B, T, E) inputs, (B,) true lengths -> logits (B, C), or (B, T, C) per position."""
        raise NotImplementedError

    def gradient(self, x, lengths, positions, classes, objective: Objective = Objective(), ids=None):
        """(logits, values F (B,), dF/dx (B, T, E)) for each row's objective at its position and
        class (PREDICTION, -1: the output predicted there). Rows are independent: a batch gives
        each row exactly what it gives alone. ids: (B, T) the token ids whose embeddings x is,
        exactly (the gradient at the input itself, not at a path point or a noisy copy), or None;
        an engine may read work it does per token from them (the torch engine: the first layer's
        input projections) and may ignore them."""
        raise NotImplementedError

    def asarray(self, a, dtype=None):
        """Numpy data (ids, indices) as this engine's own array: numpy here; the torch engine's
        is a tensor on its device."""
        return np.asarray(a, dtype)

    def parallel_scope(self):
        """A context-manager factory under which batches may run side by side (threads.side_by_side),
        or None: one batch at a time (the default)."""
        return None

    # -- optional capabilities: Unsupported where absent --------------------------------------
    resumable = False  # whether states and resume exist (prefix reuse, engines/prefix.py)

    def states(self, x, lengths):
        """Per layer (h, c or None), each (B, T+1, H): the state entering every step."""
        raise Unsupported(self, "stored states to resume from (prefix reuse)")

    def resume(self, x, lengths, initial, prefix=None):
        """Logits of suffixes x run on from per-layer states `initial` (engines/prefix.py)."""
        raise Unsupported(self, "resume from stored states (prefix reuse)")

    def weights(self) -> dict:
        """The network's arrays under the model file's names, as numpy (LRP's recorded forward,
        attribution/recorded.py, runs them again in float64)."""
        raise Unsupported(self, "model-file weights (the recurrent cells' internals)")

    def torch_module(self):
        """The torch.nn.Module explained (Explainer.torch_module)."""
        raise Unsupported(self, "torch module")
