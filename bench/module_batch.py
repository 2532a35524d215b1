"""A user's own PyTorch module, explained one text per call and one call per length (batched).

Two modules: the sst2-lstm network (LSTM 256) behind a plain `forward(ids)`, and a small one
(the docs' example size: nn.Embedding 32 + LSTM 64 + Linear, seeded), each with sst2-lstm's
vocabulary as a tokenizer callable. 1,000 SST-2 texts are explained
with grad-input twice, after a burn-in: batched=False (one text per call, as before) and the
default batched="auto", which finds out on the first batch that each module, given the true
lengths by call=(module, ids, lengths), takes padded batches. The scores must agree; the ratio
of the two times is printed.

    python bench/module_batch.py ../shared/data/sst2/dev.tsv --texts 1000 --method integrated-gradients

With grad-input, tokenizing (the same in both runs) is a good part of the batched time.
"""

import argparse
import csv
import time

import numpy as np
import torch
from torch import nn

from saliency import load_model
from saliency.engines.user_module import module_explainer


class Plain(nn.Module):
    """The network as a user's module: ids (B, T) in, logits (B, 2) out; no lengths, no padding."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, ids, lengths):
        return self.inner(self.inner.embed(ids), lengths)


class Small(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.emb, self.lstm, self.out = nn.Embedding(vocab_size, 32), nn.LSTM(32, 64, batch_first=True), \
            nn.Linear(64, 2)

    def forward(self, ids, lengths):  # packs, so padding never reaches its last state
        packed = nn.utils.rnn.pack_padded_sequence(self.emb(ids), lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)
        return self.out(h[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--texts", type=int, default=1000)
    parser.add_argument("--method", default="grad-input")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ours = load_model("sst2-lstm", engine="torch")
    tok = ours.tokenizer
    torch.manual_seed(0)
    with open(args.path, encoding="utf-8", newline="") as f:
        texts = [row["sentence"] for row in csv.DictReader(f, delimiter="\t")][: args.texts]

    def tokenize(text):
        return [(t.text, t.id) for t in tok.tokenize(text)]

    for label, module in (("sst2-lstm (LSTM 256)", Plain(ours.torch_module)), ("small (LSTM 64)", Small(len(tok.vocab)))):
        times, scores = {}, {}
        for name, batched in (("one at a time", False), ("batched", "auto")):
            explainer = module_explainer(module, tokenize, ours.output_names, pad_id=0, unk_id=1, batched=batched,
                                         call=lambda m, ids, lengths: m(ids, lengths))
            explainer.explain(texts[:50], method=args.method)  # burn-in
            start = time.perf_counter()
            results = explainer.explain(texts, method=args.method)
            times[name] = time.perf_counter() - start
            scores[name] = np.concatenate([[t.score for t in r.tokens] for r in results])
        gap = float(np.abs(scores["batched"] - scores["one at a time"]).max())
        print(f"{label}: one at a time {times['one at a time']:.2f} s, batched {times['batched']:.2f} s for "
              f"{len(texts)} texts: {times['one at a time'] / times['batched']:.1f}x as fast; "
              f"largest score difference {gap:.2e}", flush=True)


if __name__ == "__main__":
    main()
