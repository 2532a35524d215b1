"""The PyTorch tutorial models (tests/test_own_torch.py) explained, and saved with save_model, against the
tutorials' own forward and autograd, in float32 and float64.

    python bench/torch_tutorial_agreement.py
"""
import sys
import numpy as np, torch
sys.path.insert(0, ".")
from tests.test_own_torch import CharRNN, ALL_LETTERS, CATEGORIES, NAMES, line_to_tensor, letters, LSTMTagger, WORD_TO_IX, TAGS, tagger_tokenize
from saliency import explain, save_model, load_model
import tempfile, os, torch.nn.functional as F
torch.manual_seed(0)
for dtype in (torch.float32, torch.float64):
    model = CharRNN(len(ALL_LETTERS), 16, len(CATEGORIES)).to(dtype)
    res = explain(model, NAMES, "gradient", tokenizer=letters(), labels=CATEGORIES, inputs="one-hot", call=lambda m, x: m(x.transpose(0, 1)))
    gv, gd = 0, 0
    for name, r in zip(NAMES, res):
        line = line_to_tensor(name).to(dtype).requires_grad_(True)
        out = model(line)[0]; k = int(out.argmax()); (g,) = torch.autograd.grad(out[k], line)
        gv = max(gv, abs(r.target["value"] - float(out[k].detach())))
        gd = max(gd, np.abs(np.array([t.score for t in r.tokens]) - g[:, 0].norm(dim=1).numpy()).max())
    print(f"name tutorial CharRNN (one-hot, call=) {dtype}: max |d logp| {gv:.1e}, max |d score (|dx_t|)| {gd:.1e}")
    d = tempfile.mkdtemp(); p = os.path.join(d, "n.safetensors")
    mf = save_model(model, p, list(ALL_LETTERS), labels=CATEGORIES, level="char", lowercase=False, call=lambda m, x: m(x.transpose(0, 1)))
    ex = load_model(p, dtype="float64")
    gp = 0
    for name, r in zip(NAMES, ex.explain(NAMES, method="gradient")):
        with torch.no_grad(): lp = model(line_to_tensor(name).to(dtype))[0].double()
        gp = max(gp, abs(r.prediction["probability"] - float(lp.exp().max())))
    print(f"  save_model -> file ({dtype} module): probe {mf.info['probe_max_difference']:.1e}, max |dp| on names {gp:.1e}")
for dtype in (torch.float32, torch.float64):
    model = LSTMTagger(6, 6, len(WORD_TO_IX), len(TAGS)).to(dtype)
    call = lambda m, ids: torch.stack([m(row) for row in ids])
    text = "b ate the book"; worst = 0
    sentence = torch.tensor([WORD_TO_IX[w] for w in text.split()])
    for pos in range(4):
        r = explain(model, text, "gradient", tokenizer=tagger_tokenize, labels=TAGS, head="lm", call=call, position=pos, target="DET")
        emb = model.word_embeddings(sentence).detach().requires_grad_(True)
        lo, _ = model.lstm(emb.view(4, 1, -1)); sc = F.log_softmax(model.hidden2tag(lo.view(4, -1)), dim=1)
        (g,) = torch.autograd.grad(sc[pos, 0], emb)
        worst = max(worst, abs(r.target["value"] - float(sc[pos, 0].detach())), np.abs(np.array([t.score for t in r.tokens]) - g.norm(dim=1).numpy()).max())
    print(f"LSTMTagger tutorial ((T,) ids via call=) {dtype}: max difference (log-prob and |dx_t|) {worst:.1e}")
