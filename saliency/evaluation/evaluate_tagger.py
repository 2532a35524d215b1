"""evaluate for taggers: tagging accuracy against gold tags, and faithfulness per explained position.

A tagger's every position is an explained output, so each (sentence, position) is one evaluated
item. Removal never removes the explained word itself: the top k% are taken from the other
words, and the explained word stays (at its new index, once words before it are deleted), so the
metrics measure what the context contributed to its tag.
"""

import numpy as np

from .metrics import ranking, top_count


def position_items(item_class, record, results, loo, methods, rng, names):
    """One item per explained position of one sentence (results: method -> its Explanation)."""
    first = results[methods[0]]
    ids = [t.id for t in first.tokens]
    items = []
    for j, row in enumerate(first.rows):
        scores = {m: np.array(results[m].rows[j]["scores"]) for m in methods}
        scores["random"] = rng.random(len(ids))
        item = item_class(record.text, ids, names.index(row["target"]), scores)
        item.position = row["position"]
        if loo is not None and not isinstance(loo, Exception):
            item.loo = np.array(loo.rows[j]["scores"])
        items.append(item)
    return items


def others_first(scores, position) -> np.ndarray:
    """The ranking of every word but the explained one."""
    order = ranking(scores)
    return order[order != position]


def perturbed(ids, scores, position, percent, removal, unk_id, perturb):
    """(removed, kept) id lists and the explained word's index in each: the top percent% of the
    other words removed, or only they kept (with the explained word, always)."""
    n = len(ids)
    chosen = others_first(scores, position)[: top_count(max(1, n - 1), percent)] if n > 1 else np.array([], int)
    removed = perturb(ids, chosen, removal, unk_id, keep=False)
    kept = perturb(ids, np.append(chosen, position), removal, unk_id, keep=True)
    if removal == "unk":
        return (removed, position), (kept, position)
    before = int(np.sum(chosen < position))  # deleted before it, or (kept alone) kept before it
    return (removed, position - before), (kept, before)


def tagging_accuracy(pairs) -> dict:
    """Accuracy of predicted tags against gold tags, over (gold or None, predicted) pairs of
    sentences; None when no sentence has gold tags of its length."""
    right = total = sentences = 0
    for gold, predicted in pairs:
        if not isinstance(gold, list) or len(gold) != len(predicted):
            continue
        right += sum(p == g for p, g in zip(predicted, gold))
        total += len(gold)
        sentences += 1
    if not total:
        return None
    return {"accuracy": right / total, "tokens": total, "sentences": sentences}
