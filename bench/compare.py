"""The tool against Captum on the same network, method by method, and against a plain loop.

Everything runs in this process on the default model (sst2-lstm) and SST-2 dev, batch 64. The
baselines run the tool's own network (its RNNModel: nn.Embedding, nn.LSTM, max over time,
nn.Linear), unpacked (one direction: padding cannot reach real steps) with its parameters
frozen, on pre-tokenized padded batches of similar length, with torch's default threads: the
fastest way a user would run that module. Captum gets the predicted classes computed outside
the clock and its best settings, chosen by timing a few: IntegratedGradients' and NoiseTunnel's
internal batch sizes, FeatureAblation's perturbations_per_eval. The tool's figures are whole
`Explainer.explain` calls: tokenizing, batching and building the Explanations included.

Each timed group has a burn-in round, then --repeats interleaved rounds (a slow spell of a noisy
machine hits every contender alike); the best round counts. Printed per method: texts/s of each,
tool (faster engine) / Captum, and for the gradient, tool / the plain loop (forward +
torch.autograd.grad) and the plain loop in forward passes. A packed module (pack_padded_sequence,
as many users write it) is a second, labelled baseline line.

  gradient     Captum Saliency (abs=True)        = tool --method gradient (l2 of dx_t: one backward either way)
  grad-input   Captum InputXGradient             = tool --method grad-input
  IG           Captum IntegratedGradients, riemann_middle, --steps (50) = tool's midpoint rule, zero baseline
  smoothgrad   Captum NoiseTunnel(Saliency), smoothgrad, --samples (25), the tool's sigma
  occlusion    Captum FeatureAblation, one group per token, <unk>'s embedding as the baseline

Captum is a benchmark-only dependency:  pip install captum torch==2.13.0
Run from the repository root (--data is relative to it; from another checkout, pass its path):
    python3 bench/compare.py                     # every method, 3 rounds: about 3 minutes on 2 cores
    python3 bench/compare.py --methods gradient,grad-input --repeats 5     # about 20 s
    python3 bench/compare.py --methods integrated-gradients,smoothgrad     # about 2 minutes
    python3 bench/compare.py --methods gradient --gap-texts 200            # + IG's evaluations per text
Run it twice and compare: a busy neighbour moves single runs by 10-20%. Torch's threads spin while
they wait, so with other work on the cores the baselines (two torch threads) collapse far more
than the tool (one thread per worker): only quiet-machine ratios answer the targets.
"""

import argparse
import time

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from saliency import load_model
from saliency.attribution.integrated_gradients import AUTO_CAP
from saliency.attribution.smoothgrad import embedding_spread
from saliency.records.readers import read_records
from saliency.tokenize import PAD_ID, UNK_ID


class PackedModel(nn.Module):
    """The classifier as many users write it: packed LSTM over embeddings, max over time, linear."""

    def __init__(self, weights, vocab, emb, hidden, labels):
        super().__init__()
        self.embedding = nn.Embedding(vocab, emb)
        self.rnn = nn.LSTM(emb, hidden, batch_first=True)
        self.head = nn.Linear(hidden, labels)
        self.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in weights.items()})
        self.eval().requires_grad_(False)

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


def fastest_setting(make, settings, repeats=1):
    """The setting under which make(setting)() runs fastest (Captum's best batch sizes)."""
    times = {}
    for setting in settings:
        fn = make(setting)
        fn()
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        times[setting] = time.perf_counter() - start
    return min(times, key=times.get)


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
        print(f"  {name:44s} {rate:9.1f} texts/s")
    for a, b in pairs:
        print(f"  ratio {a} / {b}: {rates[a] / rates[b]:.2f}x")


def spread(texts, n):
    """Every k-th text: a sample with the data's spread of lengths (the shortest texts alone would
    measure per-call overheads)."""
    return texts[:: max(1, len(texts) // n)][:n]


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
    user = tool.engine.model
    captum, ours = IntegratedGradients(user), tool.explain(texts, "integrated-gradients", steps=steps)
    alphas = (torch.arange(steps, dtype=torch.float64) + 0.5) / steps
    worst = {"tool": 0.0, "Captum": 0.0}
    for text, mine in zip(texts, ours):
        ids = torch.tensor([tool.tokenizer.encode(text)])
        length = torch.tensor([ids.shape[1]])
        emb = user.embed(ids)
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
    parser.add_argument("--data", default="../shared/data/sst2/dev.tsv", help="texts (SST-2 dev)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds after the burn-in; the best counts")
    parser.add_argument("--steps", type=int, default=50, help="integrated gradients' steps")
    parser.add_argument("--samples", type=int, default=25, help="SmoothGrad's samples")
    parser.add_argument("--ig-texts", type=int, default=128, help="texts for IG and SmoothGrad, spread over the data")
    parser.add_argument("--occlusion-texts", type=int, default=128)
    parser.add_argument("--methods", default="gradient,grad-input,integrated-gradients,smoothgrad,occlusion",
                        help="comma-separated, any of the default's")
    parser.add_argument("--gap-texts", type=int, default=0, help="IG evaluations per text for a gap under 1%%")
    parser.add_argument("--tolerance", type=float, default=0.01, help="--steps auto's tolerance")
    args = parser.parse_args()
    from captum.attr import (FeatureAblation, InputXGradient, IntegratedGradients, NoiseTunnel, Saliency)

    texts = [r.text for r in read_records(args.data) if not r.error]
    tool = load_model(engine="torch", batch_size=args.batch_size)
    tool_numpy = load_model(engine="numpy", batch_size=args.batch_size)
    module = tool.engine.model  # the same network: eval mode, parameters frozen
    embed = module.embed
    cfg = tool.engine.config
    print(f"{len(texts)} texts, batch {args.batch_size}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads (the baselines' default); module: the tool's own "
          f"{cfg.cell} {cfg.hidden_size}, unpacked, parameters frozen")

    def prepared(sample):
        data = padded_batches([tool.tokenizer.encode(t) for t in sample], args.batch_size)
        with torch.no_grad():
            return [(x, lengths, group, module(embed(x), lengths).argmax(-1)) for x, lengths, group in data]

    tool_autograd = load_model(engine="torch", batch_size=args.batch_size)
    tool_autograd.engine.backward_by_hand = False  # the torch engine as it was: autograd through nn.LSTM

    def tool_pair(label, sample, method, **options):
        return {f"tool {label} (torch engine)": lambda: tool.explain(sample, method, **options),
                f"tool {label} (numpy engine)": lambda: tool_numpy.explain(sample, method, **options),
                f"tool {label} (torch, autograd backward: before)":
                    lambda: tool_autograd.explain(sample, method, **options)}

    def versus(rates, label, captum_name):
        best = max((k for k in rates if k.startswith(f"tool {label} ") and "before" not in k), key=rates.get)
        before = rates[f"tool {label} (torch, autograd backward: before)"]
        print(f"  ratio tool {label} (torch engine) / its autograd backward (before): "
              f"{rates[f'tool {label} (torch engine)'] / before:.2f}x; before / {captum_name}: "
              f"{before / rates[captum_name]:.2f}x")
        print(f"  ratio tool {label} (faster engine: {best.split('(')[1][:-1]}) / {captum_name}: "
              f"{rates[best] / rates[captum_name]:.2f}x")
        return best

    methods = args.methods.split(",")
    data = prepared(texts)
    if "gradient" in methods:
        packed = PackedModel(module.weights(), cfg.vocab_size, cfg.embedding_dim, cfg.hidden_size, cfg.num_labels)

        def forward_only():
            with torch.no_grad():
                for x, lengths, _, _ in data:
                    module(embed(x), lengths).argmax(-1)

        def plain_loop(net=module):
            for x, lengths, _, _ in data:
                emb = embed(x).detach().requires_grad_(True)
                logits = net(emb, lengths)
                torch.autograd.grad(logits.gather(1, logits.argmax(-1, keepdim=True)).sum(), emb)

        saliency = Saliency(module)

        def captum_saliency():
            for x, lengths, _, target in data:
                saliency.attribute(embed(x), target=target, abs=True, additional_forward_args=(lengths,))

        print(f"gradient, {len(texts)} texts")
        rates = best_rates({"forward only (no gradient)": forward_only, "plain loop (forward + autograd.grad)":
                            plain_loop, "plain loop, packed module (second baseline)": lambda: plain_loop(packed),
                            "Captum Saliency": captum_saliency, **tool_pair("gradient", texts, "gradient")},
                           len(texts), args.repeats)
        show(rates, [])
        best = versus(rates, "gradient", "Captum Saliency")
        print(f"  ratio {best} / plain loop: {rates[best] / rates['plain loop (forward + autograd.grad)']:.2f}x")
        forwards = rates["forward only (no gradient)"]
        print(f"  in forward passes: plain loop {forwards / rates['plain loop (forward + autograd.grad)']:.2f}, "
              f"{best} {forwards / rates[best]:.2f}")

    if "grad-input" in methods:
        input_x_gradient = InputXGradient(module)

        def captum_input_x_gradient():
            for x, lengths, _, target in data:
                input_x_gradient.attribute(embed(x), target=target, additional_forward_args=(lengths,)).sum(-1)

        print(f"grad-input, {len(texts)} texts")
        rates = best_rates({"Captum InputXGradient": captum_input_x_gradient,
                            **tool_pair("grad-input", texts, "grad-input")}, len(texts), args.repeats)
        show(rates, [])
        versus(rates, "grad-input", "Captum InputXGradient")

    ig_texts = spread(texts, args.ig_texts)
    ig_data = prepared(ig_texts)
    if "integrated-gradients" in methods:
        integrated = IntegratedGradients(module)

        def captum_ig(internal=10 * args.batch_size):
            def run():
                return [integrated.attribute(embed(x), target=target, n_steps=args.steps, method="riemann_middle",
                                             internal_batch_size=internal, additional_forward_args=(lengths,)).sum(-1)
                        for x, lengths, _, target in ig_data]
            return run

        internal = fastest_setting(captum_ig, [args.batch_size * k for k in (5, 10, 25, 50)])
        print(f"integrated gradients, {args.steps} steps, {len(ig_texts)} texts (Captum internal_batch_size "
              f"{internal}: the fastest of 5, 10, 25, 50 x batch)")
        rates = best_rates({"Captum IntegratedGradients": captum_ig(internal),
                            **tool_pair("IG", ig_texts, "integrated-gradients", steps=args.steps)},
                           len(ig_texts), args.repeats)
        show(rates, [])
        versus(rates, "IG", "Captum IntegratedGradients")
        theirs, ours = captum_ig(internal)(), tool.explain(ig_texts, "integrated-gradients", steps=args.steps)
        worst = 0.0
        for (_, lengths, group, _), scores in zip(ig_data, theirs):
            for row, i in enumerate(group):
                mine = np.array([t.score for t in ours[i].tokens])
                worst = max(worst, float(np.abs(mine - scores[row, : len(mine)].detach().numpy()).max()))
        print(f"  largest |tool - Captum| attribution, same steps: {worst:.2e}")
        exact_midpoint_check(ig_texts, args.steps)

    if "smoothgrad" in methods:
        sigma = 0.1 * embedding_spread(tool.engine)
        tunnel = NoiseTunnel(Saliency(module))

        def captum_smoothgrad(per_batch=args.samples):
            def run():
                for x, lengths, _, target in ig_data:
                    tunnel.attribute(embed(x), nt_type="smoothgrad", nt_samples=args.samples, stdevs=sigma,
                                     nt_samples_batch_size=per_batch, target=target, abs=True,
                                     additional_forward_args=(lengths,))
            return run

        per_batch = fastest_setting(captum_smoothgrad, [5, args.samples])
        print(f"smoothgrad, {args.samples} samples, {len(ig_texts)} texts (sigma {sigma:.3f}; Captum "
              f"nt_samples_batch_size {per_batch}: the fastest of 5 and {args.samples})")
        rates = best_rates({"Captum NoiseTunnel(Saliency)": captum_smoothgrad(per_batch),
                            **tool_pair("smoothgrad", ig_texts, "smoothgrad", samples=args.samples)},
                           len(ig_texts), args.repeats)
        show(rates, [])
        versus(rates, "smoothgrad", "Captum NoiseTunnel(Saliency)")

    if "occlusion" in methods:
        occ_texts = spread(texts, args.occlusion_texts)
        occ_data = prepared(occ_texts)
        ablation = FeatureAblation(module)
        unk = embed(torch.tensor([[UNK_ID]]))[0, 0]

        def captum_occlusion(per_eval=32):
            def run():
                for x, lengths, _, target in occ_data:
                    emb = embed(x)
                    groups = torch.arange(x.shape[1])[None, :, None].expand_as(emb)  # one group per token
                    ablation.attribute(emb, baselines=unk.expand_as(emb), target=target, feature_mask=groups,
                                       perturbations_per_eval=per_eval, additional_forward_args=(lengths,))
            return run

        per_eval = fastest_setting(captum_occlusion, [8, 32, 128])
        print(f"occlusion (<unk>), {len(occ_texts)} texts (Captum perturbations_per_eval {per_eval}: the fastest "
              "of 8, 32, 128)")
        rates = best_rates({"Captum FeatureAblation": captum_occlusion(per_eval),
                            **tool_pair("occlusion", occ_texts, "occlusion")}, len(occ_texts), args.repeats)
        show(rates, [])
        versus(rates, "occlusion", "Captum FeatureAblation")

    if args.gap_texts:
        integrated = IntegratedGradients(module)
        gap_texts = texts[: args.gap_texts]
        print(f"network evaluations per text for a median completeness gap < 1% ({len(gap_texts)} texts; "
              "evaluations = steps gradients + 2 forwards)")
        found = {rule: evaluations_for_gap(tool, gap_texts, rule) for rule in ("midpoint", "gauss-legendre")}
        deltas = []
        for x, lengths, _, target in prepared(gap_texts):
            emb = embed(x)
            with torch.no_grad():
                ends = module(torch.cat([emb, emb * 0]), lengths.repeat(2)).gather(1, target.repeat(2)[:, None])[:, 0]
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
