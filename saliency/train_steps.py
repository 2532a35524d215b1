"""What training classifiers, language models and taggers shares: the epoch loop that keeps the
best epoch's weights (`fit`), batches of similar length, padding, the optimiser and its clipped step.

train.py and train_tagger.py both build on this module; neither imports the other's pieces.
"""

import math
import random

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


def fit(model, opts, epoch_batches, batch_loss, validate, watch, progress=None):
    """Train opts.epochs epochs, then keep the weights of the epoch best on the validation data.

    epoch_batches(rng): one epoch's batches, drawn from the seeded rng; batch_loss(batch): its
    loss; validate(): the validation metrics; watch: (the metric, its name in the history, +1
    where higher is better, -1 where lower is). Returns the history: {"epoch", name} per epoch.
    """
    optim = make_optimizer(model, opts)
    rng = random.Random(opts.seed)
    metric, name, sign = watch
    best, best_state, history = -math.inf, None, []
    for epoch in range(1, opts.epochs + 1):
        model.train()
        batches = epoch_batches(rng)
        for step, batch in enumerate(batches, 1):
            loss = batch_loss(batch)
            optimizer_step(model, optim, loss)
            if progress:
                progress({"epoch": epoch, "step": step, "steps": len(batches), "loss": loss.detach().item()})
        metrics = validate()
        history.append({"epoch": epoch, name: round(metrics[metric], 4)})
        if progress:
            progress({"epoch": epoch, "valid": metrics})
        if sign * metrics[metric] > best:
            best, best_state = sign * metrics[metric], {k: v.clone() for k, v in model.state_dict().items()}
    restore_best(model, best_state, opts.half)
    return history
