"""How closely each imported or wrapped model agrees with its author's own forward, model by model.

The authors' forwards are those of tests/test_own_numpy.py and tests/test_own_torch.py (the
course's rnn/lstm cell, min-char-rnn, the PyTorch tutorials). A course RNN is trained here on
../shared/data/dinos as "Dinosaurus Island" trains it (x<1> = 0, SGD, clipping), then imported
with and without --zero-start, to show what the zero step changes. Prints one line per model.

    python bench/own_model_agreement.py ../shared/data/dinos/dinos.txt
"""

import sys

import numpy as np
import torch

sys.path.insert(0, ".")
from saliency.importers.numpy_layouts import COURSE_VOCAB  # noqa: E402
from saliency.importers import import_char_rnn  # noqa: E402
from saliency.engines.numpy_engine import NumpyEngine  # noqa: E402
from saliency.engines.torch_engine import TorchEngine  # noqa: E402
from tests.test_import import train_course_rnn  # noqa: E402
from tests.test_own_numpy import (course_lstm_forward, course_lstm_params, course_rnn_forward,  # noqa: E402
                                  engine_probabilities, min_char_rnn_forward)


def compare(name, model_file, forward, texts):
    for dtype in ("float32", "float64"):
        gaps, flips, n = [], 0, 0
        for engine in (NumpyEngine(model_file, dtype), TorchEngine(model_file, dtype)):
            for text in texts:
                got, want = engine_probabilities(engine, model_file, text), forward(text)
                gaps.append(np.abs(got - want).max())
                flips += int((got.argmax(1) != want.argmax(1)).sum())
                n += len(text)
        print(f"{name} [{dtype}, both engines, {len(texts)} texts]: max |dp| {max(gaps):.2e}, "
              f"most likely next character differs at {100 * flips / n:.1f}% of positions", flush=True)


def main():
    names = [line.strip().lower() for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
    p = train_course_rnn(names, n_a=50, iterations=20000, lr=0.01)
    p["ba"] = p.pop("b")
    texts = names[:300]
    compare("course RNN (dinos), --zero-start", import_char_rnn(p, zero_start=True),
            lambda t: course_rnn_forward(p, t, True), texts)
    compare("course RNN (dinos), imported without --zero-start", import_char_rnn(p),
            lambda t: course_rnn_forward(p, t, True), texts)
    q = course_lstm_params(n_a=32)
    compare("course LSTM (random), --zero-start", import_char_rnn(q, zero_start=True),
            lambda t: course_lstm_forward(q, t, True), texts)
    rng = np.random.default_rng(0)
    r = {"Wxh": rng.normal(0, 0.3, (40, 27)), "Whh": rng.normal(0, 0.3, (40, 40)), "Why": rng.normal(0, 0.3, (27, 40)),
         "bh": rng.normal(0, 0.1, (40, 1)), "by": rng.normal(0, 0.1, (27, 1))}
    compare("min-char-rnn (random)", import_char_rnn(r, COURSE_VOCAB),
            lambda t: min_char_rnn_forward(r, [COURSE_VOCAB.index(c) for c in t]), texts)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
