"""How fragile is the default model, and how good is HotFlip's first-order ranking?

For each SST-2 dev sentence: the best single swap (`saliency flip`, default --candidates 32), and
the same with only the first-order top candidate verified (--candidates 1), in the same process.
Prints the share of sentences one swap flips (overall and per predicted label), how often the
first-order top candidate was the best verified one, and how far estimates are from the truth.

    python bench/flip.py --data /work/shared/data/sst2/dev.tsv [--texts 872] [--candidates 32]
"""

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the CLI does: small matrices, no thread hand-off

import numpy as np  # noqa: E402

from saliency import load_model  # noqa: E402
from saliency.act.flip import flip  # noqa: E402
from saliency.records.io import read_records  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/sst2/dev.tsv")
    parser.add_argument("--texts", type=int, default=0, help="the first N sentences (0: all)")
    parser.add_argument("--candidates", type=int, default=32)
    parser.add_argument("--engine", default="numpy")
    args = parser.parse_args()
    texts = [r.text for r in read_records(args.data) if not r.error]
    texts = texts[: args.texts] if args.texts else texts
    explainer = load_model(engine=args.engine)
    rows = {"verified": [], "top only": []}
    times = {"verified": 0.0, "top only": 0.0}
    for text in texts:
        for name, k in (("verified", args.candidates), ("top only", 1)):
            start = time.perf_counter()
            result = flip(explainer, text, candidates=k)
            times[name] += time.perf_counter() - start
            rows[name].append(result)
    print(f"{len(texts)} sentences, model {explainer.name}, engine {args.engine}")
    for name, results in rows.items():
        k = args.candidates if name == "verified" else 1
        counts = [r.swaps[0].verified_count for r in results if r.swaps]
        print(f"\none swap, --candidates {k}: {np.mean(counts):.1f} verified on average "
              f"({1000 * times[name] / len(texts):.1f} ms/sentence):")
        flipped = np.array([r.flipped for r in results])
        print(f"  flipped by one swap: {flipped.sum()} / {len(results)} = {flipped.mean():.3f}")
        for label in sorted({r.before["label"] for r in results}):
            mine = np.array([r.flipped for r in results if r.before["label"] == label])
            print(f"    predicted {label:9s} {mine.sum():4d} / {len(mine):4d} = {mine.mean():.3f}")
        swaps = [r.swaps[0] for r in results if r.swaps]
        if name == "verified":
            top = np.array([s.rank == 0 for s in swaps])
            ranks = np.array([s.rank for s in swaps])
            print(f"  first-order top candidate was the best verified: {top.sum()} / {len(top)} = {top.mean():.3f}"
                  f"  (median rank of the best: {np.median(ranks):.0f}, 90th percentile {np.percentile(ranks, 90):.0f})")
        est = np.array([s.estimated for s in swaps])
        ver = np.array([s.verified for s in swaps])
        print(f"  chosen swap: median estimated {np.median(est):+.3f}, verified {np.median(ver):+.3f} "
              f"(margin units); correlation {np.corrcoef(est, ver)[0, 1]:.3f}")
    ratio = np.mean([a.flipped for a in rows["verified"]]) / max(1e-9, np.mean([a.flipped for a in rows["top only"]]))
    print(f"\nverifying {args.candidates} candidates flips {ratio:.2f}x as many sentences as the top estimate alone, "
          f"at {times['verified'] / times['top only']:.2f}x the time")


if __name__ == "__main__":
    main()
