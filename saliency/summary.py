"""Corpus-level view for `batch --summary`: which tokens most often drove each predicted label."""

from collections import defaultdict

TOP_PER_TEXT = 3


class TokenSummary:
    def __init__(self, per_text: int = TOP_PER_TEXT):
        self.per_text = per_text
        self.stats = defaultdict(lambda: [0, 0.0])  # (label, token) -> [count, score sum]
        self.texts = defaultdict(int)

    def add(self, explanation):
        """Count the text's strongest tokens (towards the target, for signed methods) under its label;
        a tagger's, for each explained position under the tag explained there."""
        tokens = explanation.tokens
        if explanation.rows is not None and "tags" in explanation.prediction:
            for row in explanation.rows:
                self.count(row["target"], tokens, row["scores"])
            return
        self.count(explanation.target["label"], tokens, [t.score for t in tokens])

    def count(self, label, tokens, scores):
        self.texts[label] += 1
        ranked = sorted(range(len(tokens)), key=lambda i: scores[i], reverse=True)[: self.per_text]
        for i in ranked:
            entry = self.stats[(label, tokens[i].text.lower())]
            entry[0] += 1
            entry[1] += scores[i]

    def rows(self, top: int = 10) -> list:
        """Per label, the tokens most often among a text's strongest: {label, token, count, mean}."""
        out = []
        for label in sorted(self.texts):
            items = [(tok, c, s / c) for (lab, tok), (c, s) in self.stats.items() if lab == label]
            items.sort(key=lambda t: (-t[1], -t[2], t[0]))
            out += [{"label": label, "token": tok, "count": c, "mean": m, "texts": self.texts[label]}
                    for tok, c, m in items[:top]]
        return out
