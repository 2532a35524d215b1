"""Cold start: median wall time of one `saliency explain "text"` per engine, against importing torch.

Each command is run --runs times as a fresh process, after one untimed run to warm the file cache.
Prints medians and ratios to `python -c "import torch"` (goal for the numpy engine: at most 0.3).

    python bench/coldstart.py [--runs 9]
"""

import argparse
import statistics
import subprocess
import sys
import time

TEXT = "the acting is wooden but the score is gorgeous"


def median_wall(cmd, runs):
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    commands = {
        'python -c "pass"': [sys.executable, "-c", "pass"],
        'python -c "import torch"': [sys.executable, "-c", "import torch"],
        "saliency explain (numpy engine, the default)": ["saliency", "explain", TEXT, "--engine", "numpy"],
        "saliency explain --engine torch": ["saliency", "explain", TEXT, "--engine", "torch"],
    }
    medians = {name: median_wall(cmd, args.runs) for name, cmd in commands.items()}
    torch_import = medians['python -c "import torch"']
    for name, seconds in medians.items():
        print(f"{name:46s} {seconds:6.3f} s   {seconds / torch_import:5.2f}x import torch")


if __name__ == "__main__":
    main()
