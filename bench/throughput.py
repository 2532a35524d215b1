"""Texts per second on the default model and SST-2 dev sentences, against hand-written torch.

Prints, for batch size 64 (all in this process, after a burn-in, best of --repeats interleaved rounds):
  forward only              no gradient (an upper bound)
  hand-written gradient     embed -> model -> autograd.grad on the embeddings
  tool gradient             Explainer.explain(method="gradient"): tokenizing to Explanations
  hand-written IG           50 path points stacked in the batch dimension, chunked as the tool chunks
  tool IG                   Explainer.explain(method="integrated-gradients", steps=50)
and the ratios tool / hand-written (goal: at least 0.9).

    python bench/throughput.py [--data ../shared/data/sst2/dev.tsv] [--batch-size 64]
"""

import argparse
import time

import numpy as np
import torch

from saliency import load_model
from saliency.attribution.base import CHUNK_POSITIONS
from saliency.io import read_records
from saliency.tokenize import PAD_ID


def best_times(functions, repeats):
    """Best wall time of each function. Rounds interleave them, so a slow spell of this noisy
    machine hits every function alike rather than whichever ran during it."""
    for fn in functions.values():
        fn()  # burn-in
    best = {name: float("inf") for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def batches(ids, batch_size):
    """Padded (ids, lengths) batches of similar length, as the tool forms them."""
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = []
    for start in range(0, len(order), batch_size):
        group = [ids[i] for i in order[start:start + batch_size]]
        lengths = torch.tensor([len(g) for g in group])
        padded = torch.full((len(group), int(lengths.max())), PAD_ID, dtype=torch.long)
        for row, g in enumerate(group):
            padded[row, : len(g)] = torch.tensor(g)
        out.append((padded, lengths))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/sst2/dev.tsv")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    texts = [r.text for r in read_records(args.data) if not r.error]
    explainer = load_model(engine="torch", batch_size=args.batch_size)
    model = explainer.engine.model
    ids = [explainer.tokenizer.encode(t) for t in texts]
    data = batches(ids, args.batch_size)

    def forward_only():
        with torch.no_grad():
            for x, lengths in data:
                model(model.embed(x), lengths).argmax(-1)

    def hand_gradient():
        for x, lengths in data:
            emb = model.embed(x).detach().requires_grad_(True)
            logits = model(emb, lengths)
            picked = logits.gather(1, logits.argmax(-1, keepdim=True)).sum()
            torch.autograd.grad(picked, emb)

    def hand_ig():
        for x, lengths in data:
            with torch.no_grad():
                emb = model.embed(x)
                target = model(emb, lengths).argmax(-1)
            B, T, E = emb.shape
            alphas = (torch.arange(args.steps, dtype=emb.dtype) + 0.5) / args.steps
            points = (alphas[None, :, None, None] * emb[:, None]).reshape(B * args.steps, T, E)
            rows = max(1, CHUNK_POSITIONS // T)
            grads = []
            for i in range(0, len(points), rows):
                p = points[i:i + rows].requires_grad_(True)
                lens = lengths.repeat_interleave(args.steps)[i:i + rows]
                cls = target.repeat_interleave(args.steps)[i:i + rows]
                out = model(p, lens)
                grads.append(torch.autograd.grad(out.gather(1, cls[:, None]).sum(), p)[0])
            mean_grad = torch.cat(grads).reshape(B, args.steps, T, E).mean(1)
            (emb * mean_grad).sum(-1)

    def tool(method, **options):
        return lambda: explainer.explain(texts, method, **options)

    n = len(texts)
    functions = {"forward only": forward_only, "hand-written gradient": hand_gradient,
                 "tool gradient": tool("gradient"), "hand-written IG": hand_ig,
                 "tool IG": tool("integrated-gradients", steps=args.steps)}
    rates = {name: n / seconds for name, seconds in best_times(functions, args.repeats).items()}
    for name, rate in rates.items():
        print(f"{name:24s} {rate:10.1f} texts/s")
    print(f"texts: {n}, batch size {args.batch_size}, IG steps {args.steps}, torch threads {torch.get_num_threads()}")
    print(f"ratio tool gradient / hand-written gradient: {rates['tool gradient'] / rates['hand-written gradient']:.3f}")
    print(f"ratio tool IG / hand-written IG:             {rates['tool IG'] / rates['hand-written IG']:.3f}")
    print(f"ratio hand-written gradient / forward only:  {rates['hand-written gradient'] / rates['forward only']:.3f}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
