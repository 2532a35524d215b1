"""Corpus-level view for `batch --summary`: which tokens most often drove the prediction, grouped
by predicted label and, where records carry gold labels, by gold label and by confusion pair
(gold -> predicted), each group named as such."""

from collections import defaultdict

TOP_PER_TEXT = 3
GROUPS = ("predicted", "gold", "confusion")  # the order the tables come in
PAIR = " -> "  # a confusion pair's name: gold -> predicted


class TokenSummary:
    def __init__(self, per_text: int = TOP_PER_TEXT):
        self.per_text = per_text
        self.stats = defaultdict(lambda: [0, 0.0])  # (group, label, token) -> [count, score sum]
        self.texts = defaultdict(int)  # (group, label) -> texts

    def add(self, explanation):
        """Count the text's strongest tokens (towards the explained output, for signed methods)
        under its predicted label, and with a gold label under it and under the pair; a tagger's,
        for each explained position under the tag explained there."""
        tokens = explanation.tokens
        if explanation.rows is not None and "tags" in explanation.prediction:
            for row in explanation.rows:
                self.count([("predicted", row["target"])], tokens, row["scores"])
            return
        predicted = explanation.prediction["label"]
        keys = [("predicted", predicted)]
        if explanation.gold is not None:
            keys += [("gold", explanation.gold), ("confusion", f"{explanation.gold}{PAIR}{predicted}")]
        self.count(keys, tokens, [t.score for t in tokens])

    def count(self, keys, tokens, scores):
        ranked = sorted(range(len(tokens)), key=lambda i: scores[i], reverse=True)[: self.per_text]
        for group, label in keys:
            self.texts[(group, label)] += 1
            for i in ranked:
                entry = self.stats[(group, label, tokens[i].text.lower())]
                entry[0] += 1
                entry[1] += scores[i]

    def groups(self) -> list:
        """The groups that have texts, in GROUPS order."""
        return [g for g in GROUPS if any(group == g for group, _ in self.texts)]

    def rows(self, top: int = 10, group: str = "predicted") -> list:
        """Per label of `group`, the tokens most often among a text's strongest:
        {label, token, count, mean, texts}."""
        out = []
        for label in sorted(label for g, label in self.texts if g == group):
            items = [(tok, c, s / c) for (g, lab, tok), (c, s) in self.stats.items() if g == group and lab == label]
            items.sort(key=lambda t: (-t[1], -t[2], t[0]))
            out += [{"label": label, "token": tok, "count": c, "mean": m, "texts": self.texts[(group, label)]}
                    for tok, c, m in items[:top]]
        return out
