"""Issue 12's goal 2: batch throughput with one busy process per core beside it, against quiet.

The script starts and stops the busy processes itself (a Python loop spinning until this script
ends, one per core). Rounds alternate quiet and busy, each measuring, in this process, texts/s of
Explainer.explain on the first --texts SST-2 dev sentences (batch 64) for the torch engine, the
numpy engine and a plain torch loop over the same module (forward + autograd.grad, unpacked,
parameters frozen; default threads, as a user would run it); best
round of each. Then `saliency batch` on the same texts, timed as a command, busy, with the
default engine (auto: by the input's size, see engines.engine_for_input) and each engine.
Prints busy / quiet ratios (goal >= 0.4 for the default engine) and the default engine's time
against the faster engine's (goal <= 1.2x).

    python bench/busy.py [--data ../shared/data/sst2/dev.tsv] [--rounds 2] [--texts 256]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

from saliency import load_model
from saliency.records.io import read_records

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import padded_batches  # noqa: E402


class Busy:
    """One spinning process per core while inside the block."""

    def __enter__(self):
        cores = len(os.sched_getaffinity(0))
        # Each spins until its parent (this script) is gone, so none outlives an interrupted run.
        spin = f"import os\nwhile os.getppid() == {os.getpid()}: pass"
        self.procs = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(cores)]
        time.sleep(1.0)  # let the scheduler see them
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
            p.wait()


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/sst2/dev.tsv")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--texts", type=int, default=256, help="the first N dev texts (all: 872)")
    args = parser.parse_args()
    texts = [r.text for r in read_records(args.data) if not r.error][: args.texts]
    tool, tool_numpy = load_model(engine="torch"), load_model(engine="numpy")
    module = tool.engine.model  # the same network (unpacked, parameters frozen), as bench/compare.py runs it
    data = padded_batches([tool.tokenizer.encode(t) for t in texts], 64)

    def hand_gradient():
        for x, lengths, _ in data:
            emb = module.embed(x).detach().requires_grad_(True)
            logits = module(emb, lengths)
            torch.autograd.grad(logits.gather(1, logits.argmax(-1, keepdim=True)).sum(), emb)

    functions = {"tool, torch engine": lambda: tool.explain(texts, "gradient"),
                 "tool, numpy engine": lambda: tool_numpy.explain(texts, "gradient"),
                 "plain torch loop, same module": hand_gradient}
    for fn in functions.values():
        fn()  # burn-in
    best = {(name, state): float("inf") for name in functions for state in ("quiet", "busy")}
    for _ in range(args.rounds):
        for name, fn in functions.items():
            best[name, "quiet"] = min(best[name, "quiet"], timed(fn))
        with Busy():
            for name, fn in functions.items():
                best[name, "busy"] = min(best[name, "busy"], timed(fn))
    print(f"{len(texts)} texts, batch 64, {len(os.sched_getaffinity(0))} cores, one busy process per core", flush=True)
    for name in functions:
        quiet, busy = len(texts) / best[name, "quiet"], len(texts) / best[name, "busy"]
        print(f"  {name:26s} quiet {quiet:8.1f} texts/s  busy {busy:8.1f} texts/s  busy/quiet {busy / quiet:.2f}",
              flush=True)
    commands = {"saliency batch (default engine)": [],
                "saliency batch --engine torch": ["--engine", "torch"],
                "saliency batch --engine numpy": ["--engine", "numpy"]}
    seconds = {name: float("inf") for name in commands}
    with tempfile.TemporaryDirectory() as tmp, Busy(), open(os.devnull, "w") as sink:
        path = os.path.join(tmp, "texts.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(t + "\n" for t in texts)
        for _ in range(args.rounds):
            for name, extra in commands.items():
                cmd = [os.path.join(os.path.dirname(sys.executable), "saliency"), "batch", path, "-q", "--method",
                       "gradient", *extra]
                seconds[name] = min(seconds[name], timed(lambda: subprocess.run(cmd, stdout=sink, check=True)))
    print("busy machine, the whole command on these texts (best of rounds):")
    for name, s in seconds.items():
        print(f"  {name:34s} {s:6.2f} s")
    fastest = min(seconds["saliency batch --engine torch"], seconds["saliency batch --engine numpy"])
    print(f"  default / faster engine: {seconds['saliency batch (default engine)'] / fastest:.2f}x (goal <= 1.2)")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
