"""Peak memory under hostile sizes (issue 10): long texts and large --steps against a 100-token text.

Each case is a fresh `saliency explain -f json -` process reading its text from stdin; peak RSS
comes from the kernel (ru_maxrss of the finished child). Each ratio compares the same command
on a 100-token text (goal: at most 1.5x):
  gradient      on a 100,000-token text
  occlusion     on a --occlusion-words text (default 4,000; time grows as its square)
  IG            at --steps 5000 (against the default 50 steps)
for the default engine (numpy for explain) and --engine torch.

    python bench/memory_hostile.py [--data ../shared/data/sst2/dev.tsv] [--occlusion-words 4000]
"""

import argparse
import os
import sys
import time

from saliency.tokenize import WORD_PATTERN

SCRIPT = os.path.join(os.path.dirname(sys.executable), "saliency")


def run_case(args, text):
    """Peak RSS (MB) of one run, from the kernel's accounting of the child."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child: stdin from a pipe holding the text, stdout to /dev/null
        read, write = os.pipe()
        if os.fork() == 0:
            os.close(read)
            os.write(write, text.encode("utf-8") + b"\n")
            os._exit(0)
        os.close(write)
        os.dup2(read, 0)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.execv(SCRIPT, [SCRIPT, "explain", "-f", "json", "-", *args])
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"saliency explain {' '.join(args)} exited {os.waitstatus_to_exitcode(status)}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/sst2/dev.tsv")
    parser.add_argument("--occlusion-words", type=int, default=4000)
    parser.add_argument("--long-tokens", type=int, default=20_000)  # the per-text limit
    args = parser.parse_args()
    with open(args.data, encoding="utf-8") as f:
        words = " ".join(line.split("\t")[0] for line in list(f)[1:]).split()
    words = [w for w in words if len(WORD_PATTERN.findall(w)) == 1]  # n words are n tokens: none past the limit

    def text(n):
        return " ".join(words[i % len(words)] for i in range(n))

    cases = [("gradient", [], args.long_tokens, []),
             ("occlusion", ["--method", "occlusion"], args.occlusion_words, []),
             ("integrated gradients", ["--method", "integrated-gradients"], 100, ["--steps", "5000"])]
    for engine in ("auto", "torch"):
        print(f"engine {engine}:")
        for name, method, size, extra in cases:
            small, s_small = run_case([*method, "--engine", engine], text(100))
            large, s_large = run_case([*method, "--engine", engine, *extra], text(size))
            what = f"{size:,} tokens" if not extra else " ".join(extra)
            print(f"  {name:22s} 100 tokens {small:7.1f} MB ({s_small:5.1f} s)   {what}: {large:7.1f} MB "
                  f"({s_large:6.1f} s)   ratio {large / small:.2f}x (goal <= 1.5)", flush=True)


if __name__ == "__main__":
    main()
