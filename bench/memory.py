"""Peak memory of `saliency batch` for 1,000 and 50,000 input lines: it must not grow with the file.

Each run is a fresh process (`saliency batch FILE > /dev/null`); peak RSS comes from the kernel
(ru_maxrss of the finished child). Prints both peaks and their ratio (goal: within 10%).

    python bench/memory.py [--data ../shared/data/sst2/train.tsv]
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time


def peak_rss_mb(cmd, stdout):
    """Run cmd to completion in a child and return its peak resident set size in MB."""
    start = time.perf_counter()
    pid = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.DEVNULL).pid
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) not in (0, 5):
        sys.exit(f"{' '.join(cmd)} failed")
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/sst2/train.tsv")
    parser.add_argument("--method", default="gradient")
    # One engine for both sizes (auto would pick numpy for the small file and torch for the large).
    parser.add_argument("--engine", default="torch")
    args = parser.parse_args()
    with open(args.data, encoding="utf-8") as f:
        # The same 1,000 texts in both files (the larger repeats them), so the two runs differ
        # in size alone, not in their longest texts, which set the size of a batch.
        lines = [line.split("\t")[0].strip() for line in f][1:1001]
    peaks = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1_000, 50_000):
            path = os.path.join(tmp, f"lines{n}.txt")
            with open(path, "w", encoding="utf-8") as f:
                f.writelines(lines[i % len(lines)] + "\n" for i in range(n))
            with open(os.devnull, "w") as sink:
                cmd = ["saliency", "batch", path, "--method", args.method, "--engine", args.engine, "--quiet",
                       "--format", "jsonl"]
                peaks[n], seconds = peak_rss_mb(cmd, sink)
            print(f"{n:>6} lines: peak RSS {peaks[n]:7.1f} MB  ({seconds:.1f} s, {n / seconds:.0f} lines/s)")
    print(f"ratio 50,000 / 1,000 lines: {peaks[50_000] / peaks[1_000]:.3f}  (goal: below 1.10)")


if __name__ == "__main__":
    main()
