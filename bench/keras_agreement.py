"""Max |dp| between each imported Keras model (tests/keras_models.py) and keras' own model.predict, both engines,
float32 and float64; a Tokenizer.to_json() vocabulary against a bare word index on punctuated texts.

    python bench/keras_agreement.py
"""
import json, subprocess, sys, tempfile
from pathlib import Path
import numpy as np
sys.path.insert(0, ".")
from saliency.importers import import_any
from saliency.engines.numpy_engine import NumpyEngine
from saliency.engines.torch_engine import TorchEngine

out = Path(tempfile.mkdtemp())
subprocess.run([sys.executable, "tests/keras_models.py", str(out)], check=True, capture_output=True)
cases = json.loads((out / "cases.json").read_text())
(out / "word_index.json").write_text(json.dumps(cases["vocab"]))
def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True)); return e / e.sum(-1, keepdims=True)
def probs(mf, texts, cls, dtype):
    e = cls(mf, dtype); rows = []
    for t in texts:
        ids = np.array([mf.tokenizer.encode(t)])
        rows.append(softmax(np.asarray(e.forward(e.embed(ids), np.array([ids.shape[1]])), np.float64))[0])
    return np.array(rows)
tj = out / "tokenizer.json"
config = {"num_words": None, "lower": True, "char_level": False, "oov_token": None, "split": " ",
          "filters": '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n', "word_index": json.dumps(cases["vocab"])}
tj.write_text(json.dumps({"class_name": "Tokenizer", "config": config}))
for name, case in cases["supported"].items():
    vocab = out / ("chars.json" if name == "one-hot-lstm" else "word_index.json")
    for suffix in (".keras", ".h5"):
        mf = import_any(str(out / f"{name}{suffix}"), str(vocab))
        gaps = {d: max(np.abs(probs(mf, cases["texts"], c, d) - np.array(case["probabilities"])).max()
                       for c in (NumpyEngine, TorchEngine)) for d in ("float32", "float64")}
        print(f"keras {name}{suffix}: max |dp| float32 {gaps['float32']:.1e}, float64 {gaps['float64']:.1e}")
    if "punct" in case and name == "lstm-last-softmax":
        mf = import_any(str(out / f"{name}.keras"), str(tj))
        bare = import_any(str(out / f"{name}.keras"), str(out / "word_index.json"))
        e = np.array(case["punct"])
        print(f"keras {name} on punctuated texts: Tokenizer.to_json() max |dp| "
              f"{np.abs(probs(mf, cases['punct_texts'], NumpyEngine, 'float64') - e).max():.1e}; "
              f"bare word index {np.abs(probs(bare, cases['punct_texts'], NumpyEngine, 'float64') - e).max():.3f}")
