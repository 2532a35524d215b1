"""What a user would write to score a file with Captum: the baseline of bench/whole_command.py.

Reads SST-2 style TSV (a `sentence` column), tokenizes, batches 64 texts of similar length, runs
a Captum method on the network and writes one JSON line per text, in input order: the tokens
and their scores. The network and vocabulary are the tool's default model (its torch module:
the same network the tool explains); everything else is the user's own code, written the way
Captum's tutorials do it.

    python bench/captum_batch.py ../shared/data/sst2/dev.tsv --method saliency > out.jsonl
"""

import argparse
import csv
import json
import sys

import torch
from captum.attr import InputXGradient, IntegratedGradients, Saliency

from saliency import load_model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--method", choices=["saliency", "input-x-gradient", "integrated-gradients"],
                        default="saliency")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    explainer = load_model("sst2-lstm", engine="torch")
    module, tokenizer, labels = explainer.torch_module, explainer.tokenizer, explainer.output_names
    with open(args.path, encoding="utf-8", newline="") as f:
        texts = [row["sentence"] for row in csv.DictReader(f, delimiter="\t")]
    tokens = [tokenizer.tokenize(t) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: len(tokens[i]))
    method = {"saliency": Saliency, "input-x-gradient": InputXGradient,
              "integrated-gradients": IntegratedGradients}[args.method](module)
    results = [None] * len(texts)
    for start in range(0, len(order), args.batch_size):
        group = order[start:start + args.batch_size]
        lengths = torch.tensor([len(tokens[i]) for i in group])
        ids = torch.zeros(len(group), int(lengths.max()), dtype=torch.long)
        for row, i in enumerate(group):
            ids[row, : len(tokens[i])] = torch.tensor([t.id for t in tokens[i]])
        emb = module.embed(ids)
        with torch.no_grad():
            probs = module(emb, lengths).softmax(-1)
        target = probs.argmax(-1)
        if args.method == "saliency":
            scores = method.attribute(emb, target=target, abs=True, additional_forward_args=(lengths,)).norm(dim=-1)
        elif args.method == "input-x-gradient":
            scores = method.attribute(emb, target=target, additional_forward_args=(lengths,)).sum(-1)
        else:
            scores = method.attribute(emb, target=target, n_steps=args.steps, method="riemann_middle",
                                      internal_batch_size=10 * args.batch_size,
                                      additional_forward_args=(lengths,)).sum(-1)
        for row, i in enumerate(group):
            results[i] = {"text": texts[i], "prediction": labels[int(target[row])],
                          "probability": float(probs[row, target[row]]),
                          "tokens": [{"text": t.text, "score": float(s)}
                                     for t, s in zip(tokens[i], scores[row, : len(tokens[i])].tolist())]}
    out = sys.stdout
    for result in results:
        out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
