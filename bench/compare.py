"""Issue 12's goals 1 and 3 in one run: the tool against what a user would write by hand, and Captum.

Everything runs in this process on the default model (sst2-lstm) and SST-2 dev, batch 64. Each
timed group has a burn-in round, then --repeats interleaved rounds (a slow spell of a noisy
machine hits every contender alike); the best round counts. Baselines get pre-tokenized, padded
batches and, for Captum, the predicted classes computed outside the clock; the tool's figures
include tokenizing and building the Explanations.

  goal 1  gradient, texts/s: hand-written (the user's own module: nn.Embedding, packed nn.LSTM,
          max-pool, nn.Linear, same weights; forward + torch.autograd.grad), Captum Saliency,
          the tool (torch and numpy engines); goal: tool torch >= 1.1x both.
  goal 3  integrated gradients at --steps 50 on --ig-texts texts spread over the dev set: Captum
          IntegratedGradients (method riemann_middle = our midpoint rule, internal_batch_size
          10 x batch) against the tool; goal >= 1.5x; the largest difference of attributions.
          Then network evaluations per text for a median completeness gap under 1% over the
          first --gap-texts dev texts: midpoint and Gauss-Legendre, and Captum's default
          (gausslegendre, n_steps 50); beside them --steps auto --tolerance 0.01 (each text's worst
          path intervals split until the sum of their errors is under 1%): mean and median gradients
          per text, mean forwards (one per interval end), gaps reached.

Captum is a benchmark-only dependency:  pip install captum torch==2.13.0
    python bench/compare.py [--data ../shared/data/sst2/dev.tsv] [--repeats 3] [--gap-texts 200] [--tolerance 0.01]
"""

import argparse
import time

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from saliency import load_model
from saliency.attribution.integrated_gradients import AUTO_CAP
from saliency.io import read_records
from saliency.tokenize import PAD_ID


class UserModel(nn.Module):
    """The classifier as a user writes it: packed LSTM over embeddings, max over time, linear."""

    def __init__(self, weights, vocab, emb, hidden, labels):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb)
        self.rnn = nn.LSTM(emb, hidden, batch_first=True)
        self.head = nn.Linear(hidden, labels)
        self.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in weights.items()})
        self.eval()

    def forward(self, emb, lengths):  # (B, T, E) embeddings -> (B, C) logits
        T = emb.shape[1]
        packed = pack_padded_sequence(emb, lengths, batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=T)
        valid = (torch.arange(T)[None, :] < lengths[:, None])[..., None]
        return self.head(out.masked_fill(~valid, float("-inf")).amax(1))


def best_rates(functions, n, repeats):
    """Texts per second of each function: burn-in, then interleaved rounds, best round."""
    for fn in functions.values():
        fn()
    best = {name: float("inf") for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: n / seconds for name, seconds in best.items()}


def padded_batches(ids, batch_size):
    """(ids, lengths, order) batches of similar length, as the tool forms them."""
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = []
    for start in range(0, len(order), batch_size):
        group = order[start:start + batch_size]
        lengths = torch.tensor([len(ids[i]) for i in group])
        padded = torch.full((len(group), int(lengths.max())), PAD_ID, dtype=torch.long)
        for row, i in enumerate(group):
            padded[row, : len(ids[i])] = torch.tensor(ids[i])
        out.append((padded, lengths, group))
    return out


def show(rates, pairs):
    for name, rate in rates.items():
        print(f"  {name:34s} {rate:9.1f} texts/s")
    for a, b in pairs:
        print(f"  ratio {a} / {b}: {rates[a] / rates[b]:.2f}x")


def relative_gaps(explainer, texts, rule, steps):
    results = explainer.explain(texts, "integrated-gradients", steps=steps, rule=rule)
    return np.array([r.completeness["relative"] for r in results])


def evaluations_for_gap(explainer, texts, rule, target=0.01, ladder=(2, 4, 8, 16, 32, 64, 128, 256)):
    """Smallest steps on the ladder whose median relative gap is under target; (steps, gap)."""
    for steps in ladder:
        gaps = relative_gaps(explainer, texts, rule, steps)
        gap = float(np.median(gaps))
        print(f"    {rule:15s} steps {steps:4d}: median gap {100 * gap:6.2f}%, worst {100 * gaps.max():6.2f}%",
              flush=True)
        if gap < target:
            return steps, gap
    return None, gap


def auto_steps(explainer, texts, tolerance):
    """--steps auto: the path points each text used, and the relative gaps reached; printed."""
    results = explainer.explain(texts, "integrated-gradients", steps="auto", tolerance=tolerance)
    steps = np.array([r.completeness["steps"] for r in results])
    gaps = np.array([r.completeness["relative"] for r in results])
    capped = int((steps == AUTO_CAP).sum())
    print(f"  tool --steps auto --tolerance {tolerance:g}: gradients per text mean {steps.mean():.1f}, median "
          f"{np.median(steps):.0f}, forwards mean {steps.mean() + 1:.1f}; median gap {100 * np.median(gaps):.2f}%, "
          f"worst {100 * gaps.max():.2f}% ({capped} texts at the cap of {AUTO_CAP:,})")


def exact_midpoint_check(texts, steps):
    """Who is right where tool and Captum differ: both in float64 against the midpoint rule computed
    directly (autograd at alpha_k = (k + 1/2) / steps, exact nodes), text by text."""
    from captum.attr import IntegratedGradients

    tool = load_model(engine="torch", dtype="float64")
    cfg = tool.engine.config
    user = UserModel(tool.engine.model.weights(), cfg.vocab_size, cfg.embedding_dim, cfg.hidden_size,
                     cfg.num_labels).double()
    captum, ours = IntegratedGradients(user), tool.explain(texts, "integrated-gradients", steps=steps)
    alphas = (torch.arange(steps, dtype=torch.float64) + 0.5) / steps
    worst = {"tool": 0.0, "Captum": 0.0}
    for text, mine in zip(texts, ours):
        ids = torch.tensor([tool.tokenizer.encode(text)])
        length = torch.tensor([ids.shape[1]])
        emb = user.embedding(ids).detach()
        with torch.no_grad():
            target = user(emb, length).argmax(-1)
        points = (alphas[:, None, None] * emb).requires_grad_(True)
        (grads,) = torch.autograd.grad(user(points, length.repeat(steps))[:, target[0]].sum(), points)
        exact = (emb[0] * grads.mean(0)).sum(-1).numpy()
        theirs = captum.attribute(emb, target=target, n_steps=steps, method="riemann_middle",
                                  additional_forward_args=(length,)).sum(-1)[0].detach().numpy()
        worst["tool"] = max(worst["tool"], float(np.abs(np.array([t.score for t in mine.tokens]) - exact).max()))
        worst["Captum"] = max(worst["Captum"], float(np.abs(theirs - exact).max()))
    print(f"  float64, against the midpoint rule computed directly: tool {worst['tool']:.1e}, "
          f"Captum {worst['Captum']:.1e} (its nodes come from a float32 torch.linspace)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/sst2/dev.tsv")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--ig-texts", type=int, default=128)
    parser.add_argument("--gap-texts", type=int, default=200)
    parser.add_argument("--tolerance", type=float, default=0.01, help="--steps auto's tolerance")
    args = parser.parse_args()
    from captum.attr import IntegratedGradients, Saliency

    texts = [r.text for r in read_records(args.data) if not r.error]
    tool = load_model(engine="torch", batch_size=args.batch_size)
    tool_numpy = load_model(engine="numpy", batch_size=args.batch_size)
    cfg = tool.engine.config
    user = UserModel(tool.engine.model.weights(), cfg.vocab_size, cfg.embedding_dim, cfg.hidden_size,
                     cfg.num_labels)
    data = padded_batches([tool.tokenizer.encode(t) for t in texts], args.batch_size)
    with torch.no_grad():
        targets = [user(user.embedding(x), lengths).argmax(-1) for x, lengths, _ in data]
    print(f"{len(texts)} texts, batch {args.batch_size}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads (the baselines' default)")

    def forward_only():
        with torch.no_grad():
            for x, lengths, _ in data:
                user(user.embedding(x), lengths).argmax(-1)

    def hand_gradient():
        for x, lengths, _ in data:
            emb = user.embedding(x).detach().requires_grad_(True)
            logits = user(emb, lengths)
            torch.autograd.grad(logits.gather(1, logits.argmax(-1, keepdim=True)).sum(), emb)

    saliency = Saliency(user)

    def captum_saliency():
        for (x, lengths, _), target in zip(data, targets):
            saliency.attribute(user.embedding(x).detach(), target=target, abs=True,
                               additional_forward_args=(lengths,))

    print("goal 1: gradient, batch 64")
    rates = best_rates({"forward only (no gradient)": forward_only, "hand-written gradient": hand_gradient,
                        "Captum Saliency": captum_saliency,
                        "tool gradient (torch engine)": lambda: tool.explain(texts, "gradient"),
                        "tool gradient (numpy engine)": lambda: tool_numpy.explain(texts, "gradient")},
                       len(texts), args.repeats)
    show(rates, [("tool gradient (torch engine)", "hand-written gradient"),
                 ("tool gradient (torch engine)", "Captum Saliency"),
                 ("tool gradient (numpy engine)", "tool gradient (torch engine)")])

    # Every k-th dev text: a sample with the dev set's spread of lengths (the shortest texts alone
    # would measure per-call overheads, not integrated gradients).
    ig_texts = texts[:: max(1, len(texts) // args.ig_texts)][: args.ig_texts]
    ig_data = padded_batches([tool.tokenizer.encode(t) for t in ig_texts], args.batch_size)
    with torch.no_grad():
        ig_targets = [user(user.embedding(x), lengths).argmax(-1) for x, lengths, _ in ig_data]
    integrated = IntegratedGradients(user)

    def captum_ig(method="riemann_middle"):
        out = []
        for (x, lengths, _), target in zip(ig_data, ig_targets):
            emb = user.embedding(x).detach()
            attr = integrated.attribute(emb, target=target, n_steps=args.steps, method=method,
                                        internal_batch_size=10 * args.batch_size,
                                        additional_forward_args=(lengths,))
            out.append(attr.sum(-1))
        return out

    print(f"goal 3: integrated gradients, {args.steps} steps, {len(ig_texts)} texts")
    rates = best_rates({"Captum IntegratedGradients": captum_ig,
                        "tool IG (torch engine)": lambda: tool.explain(ig_texts, "integrated-gradients",
                                                                       steps=args.steps),
                        "tool IG (numpy engine)": lambda: tool_numpy.explain(ig_texts, "integrated-gradients",
                                                                             steps=args.steps)},
                       len(ig_texts), args.repeats)
    show(rates, [("tool IG (torch engine)", "Captum IntegratedGradients"),
                 ("tool IG (numpy engine)", "tool IG (torch engine)")])
    theirs = captum_ig()
    ours = tool.explain(ig_texts, "integrated-gradients", steps=args.steps)
    worst = 0.0
    for (_, lengths, group), scores in zip(ig_data, theirs):
        for row, i in enumerate(group):
            mine = np.array([t.score for t in ours[i].tokens])
            worst = max(worst, float(np.abs(mine - scores[row, : len(mine)].detach().numpy()).max()))
    print(f"  largest |tool - Captum| attribution, same steps: {worst:.2e}")
    exact_midpoint_check(ig_texts, args.steps)

    gap_texts = texts[: args.gap_texts]
    print(f"goal 3: network evaluations per text for a median completeness gap < 1% ({len(gap_texts)} texts; "
          "evaluations = steps gradients + 2 forwards)")
    found = {rule: evaluations_for_gap(tool, gap_texts, rule) for rule in ("midpoint", "gauss-legendre")}
    deltas = []
    for x, lengths, group in padded_batches([tool.tokenizer.encode(t) for t in gap_texts], args.batch_size):
        emb = user.embedding(x).detach()
        with torch.no_grad():
            target = user(emb, lengths).argmax(-1)
            ends = user(torch.cat([emb, emb * 0]), lengths.repeat(2)).gather(1, target.repeat(2)[:, None])[:, 0]
        _, delta = integrated.attribute(emb, target=target, additional_forward_args=(lengths,),
                                        internal_batch_size=10 * args.batch_size, return_convergence_delta=True)
        deltas += (delta.abs() / (ends[: len(x)] - ends[len(x):]).abs().clamp_min(1e-12)).tolist()
    for rule, (steps, gap) in found.items():
        said = f"{steps + 2} evaluations (steps {steps}), median gap {100 * gap:.2f}%" if steps else "not reached"
        print(f"  tool {rule:15s} {said}")
    print(f"  Captum default (gausslegendre, 50 steps): 52 evaluations, median gap {100 * np.median(deltas):.2f}%")
    auto_steps(tool, gap_texts, args.tolerance)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
