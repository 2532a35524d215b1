"""Issue 12's goal 5: does `saliency batch --engine auto` pick the faster engine, whatever the input?

Whole commands, as a user runs them (start-up included): `saliency batch FILE -q` with --engine
numpy, torch and auto, on SST-2 training sentences of several sizes, for plain gradients and for
integrated gradients (50 steps), quiet and with one busy process per core (bench/busy.py's Busy).
Rounds interleave the engines; the best round counts. Prints each time, auto's pick, and auto's
time against the faster engine's (goal <= 1.2x; the break-even is engines.TORCH_FROM_WORK).

    python bench/auto_engine.py [--data ../shared/data/sst2/train.tsv] [--rounds 2] [--busy]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from busy import Busy  # noqa: E402

CASES = [("gradient", ["--method", "gradient"], (300, 3000, 10000, 30000)),
         ("integrated-gradients", ["--method", "integrated-gradients"], (30, 150, 600))]


def timed(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def picked(path, extra):
    """The engine auto resolves to for this input (the CLI's own rule, asked in Python)."""
    from saliency.attribution import make_method
    from saliency.engines.choose import engine_for_input, input_size

    method = make_method(extra[1] if extra else "gradient")
    return engine_for_input("cpu", "word", input_size([path]), method)


def run(lines, rounds, tmp):
    saliency = os.path.join(os.path.dirname(sys.executable), "saliency")
    for name, extra, sizes in CASES:
        for n in sizes:
            path = os.path.join(tmp, f"{n}.txt")
            with open(path, "w", encoding="utf-8") as f:
                f.writelines(lines[:n])
            best = {}
            for _ in range(rounds):
                for engine in ("numpy", "torch", "auto"):
                    seconds = timed([saliency, "batch", path, "-q", "--engine", engine, *extra])
                    best[engine] = min(best.get(engine, float("inf")), seconds)
            faster = min(best["numpy"], best["torch"])
            print(f"  {name:21s} {n:6d} texts  numpy {best['numpy']:6.2f} s  torch {best['torch']:6.2f} s  "
                  f"auto {best['auto']:6.2f} s (picks {picked(path, extra)})  auto / faster {best['auto'] / faster:.2f}x",
                  flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/sst2/train.tsv")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--busy", action="store_true", help="with one busy process per core")
    args = parser.parse_args()
    with open(args.data, encoding="utf-8") as f:
        next(f)  # the header
        lines = [line.split("\t")[0] + "\n" for line in f]
    print(f"{'busy' if args.busy else 'quiet'} machine, {len(os.sched_getaffinity(0))} cores; best of {args.rounds}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.busy:
            with Busy():
                run(lines, args.rounds, tmp)
        else:
            run(lines, args.rounds, tmp)


if __name__ == "__main__":
    main()
