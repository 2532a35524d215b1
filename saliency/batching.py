"""Token id lists of different lengths as padded batches: the one place a (B, T) id array is
built, and the one rule for which rows share a pass through the network.

ids -> batches -> engine: the Explainer, the editor behind flip/reduce/prototype, evaluate's
perturbed texts and training all pad here. A batch takes rows in the order given (callers sort
by length first where they can, so less is padding) while it holds at most `max_rows` rows and
at most `max_positions` rows x longest length, so long texts come in smaller batches. Padding
never reaches an output (engines mask it), so any id may fill it.
"""

import numpy as np

MAX_BATCH_POSITIONS = 8192  # so 64 very long texts never share one batch


def padded(sequences, fill_id: int):
    """((B, T) int64 ids, (B,) lengths): each id list left-aligned, the rest `fill_id`."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    ids = np.full((len(sequences), int(lengths.max())), fill_id, dtype=np.int64)
    for b, s in enumerate(sequences):
        ids[b, : lengths[b]] = s
    return ids, lengths


def batches(lengths, max_rows: int = None, max_positions: int = MAX_BATCH_POSITIONS):
    """Lists of consecutive indices into `lengths`: a batch closes before a row that would take it
    past `max_rows` rows (None: no limit) or `max_positions` positions; a row alone always goes."""
    batch, longest = [], 0
    for i, length in enumerate(lengths):
        wider = max(longest, length)
        if batch and (len(batch) == max_rows or (len(batch) + 1) * wider > max_positions):
            yield batch
            batch, wider = [], length
        batch.append(i)
        longest = wider
    if batch:
        yield batch


def forward_batches(engine, sequences, fill_id: int, max_rows: int = None, max_positions: int = MAX_BATCH_POSITIONS):
    """(indices, lengths, outputs) for each batch of `sequences`: the network's outputs at the
    padded ids, (B, C), or (B, T, C) where the head answers at every position, in the engine's
    dtype (a caller that keeps one position converts only that)."""
    for batch in batches([len(s) for s in sequences], max_rows, max_positions):
        ids, lengths = padded([sequences[i] for i in batch], fill_id)
        yield batch, lengths, engine.forward(engine.embed(ids), lengths)
