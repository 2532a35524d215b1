"""`saliency batch` against a user's Captum script (bench/captum_batch.py), as whole processes.

Both score SST-2 dev (or --data) on the default model and write JSON lines to a file. The two
commands run in turn, A B A B, --rounds times after a burn-in of each; printed: each command's
median wall time and the ratio Captum script / tool per round (above 1: the tool is faster),
their median. Start-up is part of what is measured: the tool's `batch` picks its engine by the
work (the numpy engine, which never imports torch, for small inputs); the Captum script imports
torch and captum.

    python bench/whole_command.py [--data ../shared/data/sst2/dev.tsv] [--rounds 5]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PAIRS = {  # tool method: (its `saliency batch` options, the Captum script's --method)
    "gradient": (["--method", "gradient"], "saliency"),
    "grad-input": ([], "input-x-gradient"),  # batch's default options
    "integrated-gradients": (["--method", "integrated-gradients", "--steps", "50"], "integrated-gradients"),
}


def timed(cmd, out):
    start = time.perf_counter()
    with open(out, "w") as f:
        subprocess.run(cmd, stdout=f, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/sst2/dev.tsv")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--methods", default="grad-input,integrated-gradients",
                        help="grad-input is batch's default; gradient is also known")
    args = parser.parse_args()
    tool = os.path.join(os.path.dirname(sys.executable), "saliency")
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods.split(","):
            options, captum_method = PAIRS[method]
            commands = {"saliency batch": [tool, "batch", args.data, "-q", *options],
                        "Captum script": [sys.executable, os.path.join(HERE, "captum_batch.py"), args.data,
                                          "--method", captum_method]}
            outputs = {name: os.path.join(tmp, f"{i}.jsonl") for i, name in enumerate(commands)}
            for name, cmd in commands.items():
                timed(cmd, outputs[name])  # burn-in: files cached, bytecode compiled
            lines = {name: sum(1 for _ in open(path)) for name, path in outputs.items()}
            times = {name: [] for name in commands}
            for _ in range(args.rounds):
                for name, cmd in commands.items():
                    times[name].append(timed(cmd, outputs[name]))
            ratios = [c / t for t, c in zip(times["saliency batch"], times["Captum script"])]
            print(f"{method} (saliency batch {' '.join(options) or 'with default options'} / Captum --method "
                  f"{captum_method}), {args.rounds} rounds:")
            for name, seconds in times.items():
                print(f"  {name:16s} median {statistics.median(seconds):6.2f} s  (min {min(seconds):.2f}, "
                      f"max {max(seconds):.2f}); {lines[name]} lines")
            print(f"  Captum script / saliency batch, per round: median {statistics.median(ratios):.2f}x "
                  f"(min {min(ratios):.2f}, max {max(ratios):.2f})", flush=True)


if __name__ == "__main__":
    main()
