"""A user's own PyTorch module explained one text per call (batched=False) and several texts per
padded call (the default, batched="auto"), on 1,000 SST-2 texts, with grad-input.

Two modules, each with sst2-lstm's vocabulary as a tokenizer callable ((token, id) pairs) and
weights that require gradients, as a user's module has them: the sst2-lstm network (Embedding 128,
LSTM 256, Linear; it pools the last real step by the lengths it is given) and a small one (the
docs' example size: Embedding 32, LSTM 64, Linear, seeded; it packs). Both take the true lengths
through call=(module, ids, lengths), so "auto" finds on the first batch that they take padded
batches. The texts: SST-2's 872 dev sentences and 128 train sentences of the same word counts
(matched to dev's length quantiles), so the 1,000 have dev's lengths.

Rounds are interleaved (one at a time, batched, then the next module) and each round's ratio is
printed, as timing on a shared machine is noisy: read the ratios (and the CPU-time ratio, which
waiting for a core does not inflate). Beside them, per module:
- the module alone: its own forward and backward over the same inputs, one text per call and
  in the calls the tool makes, with no saliency code at all: what batching can gain at most; and
  this core's matrix-vector against matrix-matrix speed on the LSTM's step product, which bounds
  the gain on the arithmetic (beyond it, batching only saves overhead: calls, steps, small ops);
- where the batched run's time goes: the module's forward (its call), the backward and the
  engine around it, the tokenizer callable, and the rest (tokens, targets, results);
- what "auto" costs: its check, on the first batch, of the longest and shortest text together
  against each alone (3 calls of the module, once per explainer).

    python bench/module_batch.py [../shared/data/sst2/dev.tsv] [--train ...train.tsv] [--texts 1000]
                                 [--rounds 3] [--threads 1] [--method grad-input]
"""

import argparse
import copy
import csv
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from saliency import load_model
from saliency.engines.user_module import frozen, module_explainer, padded_groups


class Network(nn.Module):
    """sst2-lstm's network as a user's module: ids (B, T) and true lengths (B,) in, logits (B, 2) out."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.emb = inner.embedding

    def forward(self, ids, lengths):
        return self.from_vectors(self.emb(ids), lengths)

    def from_vectors(self, x, lengths):
        return self.inner(x, torch.as_tensor(lengths))


class Small(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.emb, self.lstm, self.out = nn.Embedding(vocab_size, 32), nn.LSTM(32, 64, batch_first=True), \
            nn.Linear(64, 2)

    def forward(self, ids, lengths):
        return self.from_vectors(self.emb(ids), lengths)

    def from_vectors(self, x, lengths):  # packs, so padding never reaches its last state
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)
        return self.out(h[-1])


def read_sentences(path):
    with open(path, encoding="utf-8", newline="") as f:
        return [row["sentence"] for row in csv.DictReader(f, delimiter="\t")]


def thousand_texts(dev_path, train_path, count):
    """dev's sentences, then train sentences matched to dev's word-count quantiles up to `count`."""
    dev = read_sentences(dev_path)
    if count <= len(dev):
        return dev[:count], f"the first {count} of {os.path.basename(dev_path)}"
    by_count = {}
    seen = set(dev)
    for sentence in read_sentences(train_path):
        if sentence not in seen:
            seen.add(sentence)
            by_count.setdefault(len(sentence.split()), []).append(sentence)
    lengths = sorted(len(s.split()) for s in dev)
    extra = []
    for k in range(count - len(dev)):
        want = lengths[int((k + 0.5) * len(lengths) / (count - len(dev)))]
        n = min((n for n in by_count if by_count[n]), key=lambda n: (abs(n - want), n))
        extra.append(by_count[n].pop(0))
    return dev + extra, f"{len(dev)} dev + {len(extra)} train of dev's lengths"


def batches(ids, size=64):
    """The tool's calls: texts sorted by length, `size` a batch, each batch split as the engine
    splits it (engines.user_module.padded_groups), padded with 0."""
    ids = sorted(ids, key=len)
    for start in range(0, len(ids), size):
        chunk = ids[start:start + size]
        for rows, L in padded_groups(np.array([len(row) for row in chunk])):
            padded = torch.zeros(len(rows), L, dtype=torch.int64)
            for k, b in enumerate(rows):
                padded[k, : len(chunk[b])] = torch.as_tensor(chunk[b])
            yield padded, torch.as_tensor([len(chunk[b]) for b in rows])


def module_alone(module, ids, size):
    """Seconds for the module's own forward and backward (dx of logit 1) over the texts, `size` a
    call, weights frozen as the tool freezes them; no saliency code."""
    prepared = [(module.emb(p).detach(), n) for p, n in batches(ids, size)]
    start = time.perf_counter()
    with frozen(module):
        for x, lengths in prepared:
            x.requires_grad_(True)
            torch.autograd.grad(module.from_vectors(x, lengths)[:, 1].sum(), x)
    return time.perf_counter() - start


def matmul_speeds(module, rows=(1, 64), repeats=100):
    """GFLOPS of this core on the LSTM's own step product, (rows, E + H) @ (E + H, 4H): a text at a
    time is matrix-vector work, a batch matrix-matrix; their ratio bounds what batching can gain on
    the arithmetic (the rest of any gain is overhead saved: calls, steps, small operations)."""
    lstm = next(m for m in module.modules() if isinstance(m, nn.LSTM))
    weight = torch.randn(lstm.input_size + lstm.hidden_size, 4 * lstm.hidden_size)
    speeds = []
    for n in rows:
        a = torch.randn(n, weight.shape[0])
        best = float("inf")
        for _ in range(5):  # the best of 5, as other work on the machine only slows it
            start = time.perf_counter()
            for _ in range(repeats):
                a @ weight
            best = min(best, time.perf_counter() - start)
        speeds.append(2 * n * weight.numel() * repeats / best / 1e9)
    return speeds


class Stopwatch:
    """Seconds spent inside the functions it wraps."""

    def __init__(self):
        self.seconds = 0.0

    def wrap(self, f):
        def timed(*args):
            start = time.perf_counter()
            try:
                return f(*args)
            finally:
                self.seconds += time.perf_counter() - start

        return timed


def where_time_goes(module, tokenize, labels, texts, method):
    """The batched run's time split: module forward, backward + engine, tokenizer, the rest."""
    forward, gradient, tokenizer = Stopwatch(), Stopwatch(), Stopwatch()
    explainer = module_explainer(module, tokenizer.wrap(tokenize), labels, pad_id=0, unk_id=1,
                                 call=forward.wrap(lambda m, ids, lengths: m(ids, lengths)))
    explainer.explain(texts[:64], method=method)  # burn-in, and auto's check
    engine = explainer.engine
    engine.gradient = gradient.wrap(engine.gradient)
    forward.seconds = tokenizer.seconds = 0.0
    start = time.perf_counter()
    explainer.explain(texts, method=method)
    total = time.perf_counter() - start
    # auto's check, alone: the first batch's longest and shortest text, together and each alone
    x = engine.embed(np.array([[5] * 40, [5] * 3 + [0] * 37]))
    engine.batched = "auto"
    start = time.perf_counter()
    engine._check_batching(x, np.array([40, 3]))
    check = time.perf_counter() - start
    return (f"module forward {forward.seconds:.3f} s, backward and engine {gradient.seconds - forward.seconds:.3f} s, "
            f"tokenizer callable {tokenizer.seconds:.3f} s, the rest {total - gradient.seconds - tokenizer.seconds:.3f}"
            f" s (of {total:.3f} s); auto's check {check * 1e3:.1f} ms, once")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("path", nargs="?", default="../shared/data/sst2/dev.tsv")
    parser.add_argument("--train", help="where the texts past dev's 872 come from (default: train.tsv beside it)")
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--method", default="grad-input")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ours = load_model("sst2-lstm", engine="torch")
    tok = ours.tokenizer
    texts, source = thousand_texts(args.path, args.train or Path(args.path).with_name("train.tsv"), args.texts)
    ids = [[t.id for t in tok.tokenize(text)] for text in texts]
    print(f"{len(texts)} texts ({source}), {sum(map(len, ids))} tokens, {args.method}, "
          f"{torch.get_num_threads()} thread(s)", flush=True)

    def tokenize(text):
        return [(t.text, t.id) for t in tok.tokenize(text)]

    torch.manual_seed(0)
    modules = {"sst2-lstm (LSTM 256)": Network(copy.deepcopy(ours.torch_module).requires_grad_(True)),
               "small (LSTM 64)": Small(len(tok.vocab))}
    modes = {"one at a time": False, "batched": "auto"}
    explainers, times, cpu_times, scores = {}, {}, {}, {}
    for label, module in modules.items():
        for mode, batched in modes.items():
            explainers[label, mode] = module_explainer(module, tokenize, ours.output_names, pad_id=0, unk_id=1,
                                                       batched=batched, call=lambda m, ids, lengths: m(ids, lengths))
            explainers[label, mode].explain(texts[:64], method=args.method)  # burn-in
            times[label, mode], cpu_times[label, mode] = [], []
    for _ in range(args.rounds):
        for label in modules:
            for mode in modes:
                start, cpu = time.perf_counter(), time.process_time()
                results = explainers[label, mode].explain(texts, method=args.method)
                times[label, mode].append(time.perf_counter() - start)
                cpu_times[label, mode].append(time.process_time() - cpu)
                scores[label, mode] = np.concatenate([[t.score for t in r.tokens] for r in results])
    for label, module in modules.items():
        alone, batched = times[label, "one at a time"], times[label, "batched"]
        ratios = [a / b for a, b in zip(alone, batched)]
        gap = float(np.abs(scores[label, "batched"] - scores[label, "one at a time"]).max())
        cpu = min(cpu_times[label, "one at a time"]) / min(cpu_times[label, "batched"])
        print(f"{label}: one at a time {min(alone):.2f} s, batched {min(batched):.2f} s (best of {args.rounds}): "
              f"{min(alone) / min(batched):.1f}x as fast; each round {' '.join(f'{r:.1f}x' for r in ratios)}; "
              f"in CPU time {cpu:.1f}x; largest score difference {gap:.2e}", flush=True)
        one, many = module_alone(module, ids, 1), module_alone(module, ids, 64)
        single, batch = matmul_speeds(module)
        print(f"  the module alone, no saliency code: one text a call {one:.2f} s, 64 a call {many:.2f} s: "
              f"{one / many:.1f}x; this core's matmul on its LSTM step, 1 row {single:.0f} GFLOPS, 64 rows "
              f"{batch:.0f} GFLOPS: {batch / single:.1f}x", flush=True)
        print(f"  batched, where the time goes: {where_time_goes(module, tokenize, ours.output_names, texts, args.method)}",
              flush=True)


if __name__ == "__main__":
    main()
