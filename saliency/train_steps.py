"""What training classifiers, language models and taggers shares: batches of similar length,
padding, the optimiser and its clipped step, and restoring the best epoch's weights.

train.py and train_tagger.py both build on this module; neither imports the other's pieces.
"""

import torch

from .batching import padded
from .tokenize import PAD_ID


def batches_by_length(ids, batch_size, rng):
    """Index batches of similar length (less padding), in random order."""
    order = sorted(range(len(ids)), key=lambda i: (len(ids[i]), rng.random()))
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(chunks)
    return chunks


def pad(seqs):
    """((B, T) long ids padded with <pad>, (B,) lengths) as torch tensors."""
    ids, lengths = padded(seqs, PAD_ID)
    return torch.from_numpy(ids), torch.from_numpy(lengths)


def restore_best(model, best_state, half):
    model.load_state_dict(best_state)
    if half:
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.half().float())


def make_optimizer(model, opts):
    return torch.optim.Adam(model.parameters(), lr=opts.lr)


def optimizer_step(model, optim, loss):
    optim.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    optim.step()
