"""Occlusion's recurrent steps with and without prefix reuse (saliency/engines/prefix.py), on long texts.

Counts, not times, so the machine's load does not matter: each engine call adds its rows x padded
width (the steps it runs, per layer); the prediction's forward pass, which `explain` makes
before any method, is counted apart. Both paths run for real and their scores are compared.

    python bench/occlusion_steps.py [--words 1000,2000] [--engine torch] [--data ../shared/data/sst2/dev.tsv]
"""

import argparse
import time

import numpy as np

from saliency import load_model
from saliency.attribution import occlusion


class Counting:
    """An engine that counts the steps each kind of call runs, passing every call on."""

    def __init__(self, engine):
        self.engine, self.steps = engine, {"forward": 0, "states": 0, "resume": 0}

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def _count(self, kind, x):
        self.steps[kind] += x.shape[0] * x.shape[1]

    def forward(self, x, lengths):
        self._count("forward", x)
        return self.engine.forward(x, lengths)

    def states(self, x, lengths):
        self._count("states", x)
        return self.engine.states(x, lengths)

    def resume(self, x, lengths, initial, prefix=None):
        self._count("resume", x)
        return self.engine.resume(x, lengths, initial, prefix)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/sst2/dev.tsv")
    parser.add_argument("--words", default="1000,2000")
    parser.add_argument("--engine", default="torch", choices=("torch", "numpy"))
    args = parser.parse_args()
    with open(args.data, encoding="utf-8") as f:
        words = " ".join(line.split("\t")[0] for line in list(f)[1:]).split()
    explainer = load_model("sst2-lstm", engine=args.engine)
    for n in (int(w) for w in args.words.split(",")):
        text = " ".join(words[i % len(words)] for i in range(n))
        scores = {}
        for reuse in (False, True):
            occlusion.REUSE_PREFIX = reuse
            engine = explainer.engine = Counting(explainer.engine)
            start = time.perf_counter()
            result = explainer.explain([text], method="occlusion")[0]
            seconds = time.perf_counter() - start
            explainer.engine = engine.engine
            scores[reuse] = np.array([t.score for t in result.tokens])
            s, T = engine.steps, len(result.tokens)
            # explain's own forward pass for the prediction (T steps) comes before the method; the
            # method's first forward pass is F(x) (T steps); its other calls are the copies.
            copies = s["forward"] - 2 * T + s["resume"]
            print(f"{n} words ({T:,} tokens), {args.engine}, {'reused' if reuse else 'from step 0'}: "
                  f"copies {copies:,} steps, states {s['states']:,}, F(x) {T:,}: method {copies + s['states'] + T:,} "
                  f"steps (+ {T:,} for the prediction); {seconds:.1f} s, not a timing claim")
        gap = np.abs(scores[True] - scores[False]).max()
        print(f"  largest score difference {gap:.2e} (float32), largest score {np.abs(scores[False]).max():.3f}")


if __name__ == "__main__":
    main()
