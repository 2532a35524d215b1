"""Ray Data scaling: one process vs --ray with 1 and 2 workers, and Ray's start-up cost.

    python bench/ray_scaling.py [--data ../shared/data/sst2/dev.tsv] [--texts 1024] [--steps 50]

Each run is the installed `saliency batch` on the same texts (integrated gradients, so the work
is CPU-bound); throughput is texts/s over the whole command, start-up included, and the ratios
are against the single-process run made in the same session. Start-up: a --ray run on one text.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from saliency.records.io import read_records

SCRIPT = Path(sys.executable).with_name("saliency")


def timed(args):
    start = time.perf_counter()
    out = subprocess.run([str(SCRIPT), "batch", *args], capture_output=True, check=True).stdout
    return time.perf_counter() - start, out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="../shared/data/sst2/dev.tsv")
    parser.add_argument("--texts", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    texts = [r.text for r in read_records(args.data) if not r.error][: args.texts]
    with tempfile.TemporaryDirectory() as tmp:
        data, one = Path(tmp) / "in.jsonl", Path(tmp) / "one.jsonl"
        data.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
        one.write_text(json.dumps({"text": texts[0]}) + "\n")
        method = ["--method", "integrated-gradients", "--steps", str(args.steps), "-q"]
        base, reference = timed([str(data), *method])
        print(f"one process: {len(texts) / base:.1f} texts/s ({base:.1f} s)")
        for workers in (1, 2):
            seconds, out = timed([str(data), *method, "--ray", "--num-workers", str(workers)])
            assert out == reference, "Ray output differs from the single-process run"
            print(f"--ray --num-workers {workers}: {len(texts) / seconds:.1f} texts/s ({seconds:.1f} s) "
                  f"= {base / seconds:.2f}x one process")
        startup, _ = timed([str(one), "--ray", "--num-workers", "1"])
        alone, _ = timed([str(one)])
        print(f"one text: --ray {startup:.1f} s vs one process {alone:.1f} s: Ray start-up costs {startup - alone:.1f} s")


if __name__ == "__main__":
    main()
