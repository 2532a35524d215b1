"""Time per text of every method on the default model, as a ratio to the plain gradient.

Batched (torch engine, batch 64, the first --texts SST-2 dev sentences) and one text at a time
(numpy engine, as `explain` runs). Rounds interleave the methods; best of --repeats.

    python bench/methods.py [--texts 200] [--repeats 3]
"""

import argparse
import time

from saliency import load_model
from saliency.attribution import METHODS
from saliency.records.io import read_records


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/sst2/dev.tsv")
    parser.add_argument("--texts", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    texts = [r.text for r in read_records(args.data) if not r.error][: args.texts]
    setups = {"torch, batch 64": (load_model(engine="torch"), texts),
              "numpy, one text": (load_model(engine="numpy", batch_size=1), texts[:20])}
    for label, (explainer, sample) in setups.items():
        best = {m: float("inf") for m in METHODS}
        for _ in range(args.repeats + 1):  # the first round is a burn-in
            for method in METHODS:
                start = time.perf_counter()
                explainer.explain(sample, method)
                best[method] = min(best[method], (time.perf_counter() - start) / len(sample))
        print(f"{label}:")
        for method, seconds in best.items():
            print(f"  {method:22s} {1000 * seconds:8.2f} ms/text  {seconds / best['gradient']:7.1f}x gradient")


if __name__ == "__main__":
    main()
