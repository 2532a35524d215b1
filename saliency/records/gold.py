"""Gold labels: the label a record's data gives, beside the model's prediction.

`batch --label-field`, `--summary` and `evaluate` read it from a column or JSON field (found
by itself where the input has a `label` column). A gold label is one of the model's label
names or an index into them (SST-2's 0 and 1 are negative and positive), so it can be compared
with the prediction: each explained record gets `gold` and `correct`.
"""

import math

AUTO_FIELDS = ("label",)  # a column of this name is read as the gold label unless told otherwise


class GoldError(ValueError):
    """A record's gold label is missing or names no label of the model: that record's error."""


def gold_name(value, labels) -> str:
    """The model's label name for a record's gold value: a name (as given), or an index into
    `labels` (1, "1", 1.0)."""
    if isinstance(value, str) and value.strip() in labels:
        return value.strip()
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if number.is_integer() and 0 <= number < len(labels):
            return labels[int(number)]
    shown = ", ".join(labels[:5]) + (", ..." if len(labels) > 5 else "")
    raise GoldError(f"gold label {value!r} is not a label of the model ({shown}) or an index into them")


def record_gold(record, field: str, labels) -> str:
    if field not in record.fields:
        raise GoldError(f"no label field {field!r}")
    return gold_name(record.fields[field], labels)


def detect_field(records, labels, requested=None):
    """(field, note): the field holding gold labels, or None, and a line for stderr saying what
    was found. `requested` (--label-field) is used as given; otherwise a `label` field is used
    when the first record with one holds a label the model knows."""
    if requested or not labels:
        return requested, None
    for record in records:
        if record.error and not record.fields:
            continue
        field = next((f for f in AUTO_FIELDS if f in record.fields), None)
        if field is None:
            return None, None
        try:
            gold_name(record.fields[field], labels)
        except GoldError:
            return None, (f"the {field!r} field holds {record.fields[field]!r}, not a label of the model: "
                          "no gold labels (name one with --label-field)")
        return field, f"gold labels: the {field!r} field (--label-field names another)"
    return None, None


def with_gold(result_windows, field: str, labels, errors_only: bool = False):
    """batch's result windows with each explanation's gold label set (a record whose gold label
    is missing or unknown fails with that reason); `errors_only` keeps the mistakes and failures."""
    for results in result_windows:
        out = []
        for result in results:
            if result.explanation is not None:
                try:
                    result.explanation.gold = record_gold(result.record, field, labels)
                except GoldError as e:
                    result = result.failed(str(e))
            if errors_only and result.explanation is not None and result.explanation.correct:
                continue
            out.append(result)
        yield out


def confusion(pairs, labels) -> dict:
    """{"labels", "matrix": rows gold, columns predicted, "accuracy", "records"} from (gold,
    predicted) pairs; labels that occur in neither are left out."""
    used = [label for label in labels if any(label in pair for pair in pairs)]
    at = {label: i for i, label in enumerate(used)}
    matrix = [[0] * len(used) for _ in used]
    for gold, predicted in pairs:
        matrix[at[gold]][at[predicted]] += 1
    right = sum(gold == predicted for gold, predicted in pairs)
    return {"records": len(pairs), "accuracy": right / len(pairs) if pairs else None, "labels": used,
            "matrix": matrix}
