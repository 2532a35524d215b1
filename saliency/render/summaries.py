"""evaluate's and decay's tables: metrics per method, agreement, randomisation, decay bars."""

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .colours import SEQUENTIAL
from .tables import simple_table


def _cell(value, best=False, digits=3) -> Text:
    if value is None:
        return Text("-", style="dim")
    return Text(f"{value:.{digits}f}" + (" *" if best else "  "), style="bold" if best else "")


# (column, higher is better) for the evaluation table
EVAL_COLUMNS = [("comprehensiveness", "compr.", True), ("sufficiency", "suff.", False), ("loo_tau", "loo tau", True)]
PLAUSIBILITY_COLUMNS = [("token_f1", "token F1", True), ("auprc", "AUPRC", True)]


def evaluation_view(summary: dict, flagged=()):
    """evaluate's tables: metrics per method (best marked *, the random floor dim), agreement
    between methods, and the randomisation check when it ran."""
    methods = summary["methods"]
    plausible = any("plausibility" in row for row in methods.values())
    columns = [(key, label, up, None) for key, label, up in EVAL_COLUMNS]
    if plausible:
        columns += [(key, label, up, "plausibility") for key, label, up in PLAUSIBILITY_COLUMNS]

    def value(row, key, group):
        return (row.get(group) or {}).get(key) if group else row.get(key)

    best = {}
    for key, _, up, group in columns:
        values = [(value(row, key, group), m) for m, row in methods.items() if m != "random"]
        values = [(v, m) for v, m in values if v is not None]
        if values:
            best[key] = (max if up else min)(values)[1]
    over = f"{summary['records']} records"
    if "sentences" in summary:  # a tagger: every explained position of every sentence is a record
        over = f"{summary['records']} positions ({summary['sentences']} sentences)"
    table = Table(title=f"faithfulness over {over}", title_justify="left", box=None, pad_edge=False)
    table.add_column("method")
    for _, label, up, _ in columns:
        table.add_column(f"{label} {'↑' if up else '↓'}", justify="right")
    for name, row in methods.items():
        label = Text("random (floor)", style="dim") if name == "random" else Text(name)
        table.add_row(label, *[_cell(value(row, key, group), best.get(key) == name) for key, _, _, group in columns])
    parts = [table, Text("compr. / suff.: drop in p(class) with the top k% of tokens removed / kept alone,\n"
                         "mean over k = 1, 5, 10, 20, 50; loo tau: Kendall tau with leave-one-out; * best"
                         + ("\na tagger's explained word is never removed" if "sentences" in summary else ""),
                         style="dim")]
    if summary.get("tagging"):
        t = summary["tagging"]
        parts[:0] = [Text.assemble(("tagging accuracy ", "dim"), (f"{t['accuracy']:.4f}", "bold"),
                                   f" against the gold tags ({t['tokens']:,} words, {t['sentences']:,} sentences)"),
                     Text("")]
    if summary["agreement"]:
        rows = [[Text(pair.replace("|", " / ")), _cell(v)] for pair, v in summary["agreement"].items()]
        parts += [Text(""), simple_table([("methods", "left"), ("spearman", "right")], rows,
                                         title="agreement between methods (mean Spearman of token ranks)")]
    if summary.get("randomization"):
        parts += [Text(""), randomization_table(summary["randomization"], flagged)]
    if summary.get("gold"):
        parts += [Text(""), *gold_view(summary["gold"])]
    return Group(*parts)


def gold_view(gold: dict) -> list:
    """evaluate with gold labels: accuracy, the confusion table, faithfulness right vs wrong."""
    labels, matrix = gold["labels"], gold["matrix"]
    right = sum(matrix[i][i] for i in range(len(labels)))
    parts = [Text.assemble(("accuracy ", "dim"), (f"{gold['accuracy']:.3f}", "bold"),
                           f" ({right} of {gold['records']} predictions are the gold label, field {gold['field']!r})")]
    columns = [("gold \\ predicted", "left")] + [(label, "right") for label in labels]
    rows = [[Text(label)] + [Text(str(n), style="bold" if i == j else "") for j, n in enumerate(row)]
            for i, (label, row) in enumerate(zip(labels, matrix))]
    parts += [simple_table(columns, rows, title="confusion table (rows: gold label, columns: predicted)"), Text("")]
    table = Table(title=f"faithfulness on right ({gold['correct']['records']}) and wrong "
                        f"({gold['wrong']['records']}) predictions", title_justify="left", box=None, pad_edge=False)
    table.add_column("method")
    table.add_column("predictions")
    for _, label, up in EVAL_COLUMNS:
        table.add_column(f"{label} {'↑' if up else '↓'}", justify="right")
    for name in gold["correct"]["methods"]:
        for part, shown in (("correct", "right"), ("wrong", "wrong")):
            row = gold[part]["methods"][name] or {}
            label = ("random (floor)" if name == "random" else name) if part == "correct" else ""
            table.add_row(Text(label, style="dim" if name == "random" else ""), shown,
                          *[_cell(row.get(key)) for key, _, _ in EVAL_COLUMNS])
    return parts + [table]


def randomization_table(randomization: dict, flagged=()) -> Table:
    stages = [row["stage"] for row in next(iter(randomization.values()))]
    table = Table(title="sanity check: Spearman, trained vs randomised map",
                  caption="column: weights randomised from the head down to that layer", caption_justify="left",
                  caption_style="dim", title_justify="left", box=None, pad_edge=False)
    table.add_column("method")
    for stage in stages:
        table.add_column(stage, justify="right")
    table.add_column("verdict")
    for name, rows in randomization.items():
        verdict = Text("map barely changes: not model-dependent", style="bold yellow") if name in flagged \
            else Text("changes with the model")
        table.add_row(Text(name), *[_cell(r["spearman"]) for r in rows], verdict)
    return table


BAR_WIDTH = 32
BLOCKS = " ▏▎▍▌▋▊▉█"


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    return "█" * (eighths // 8) + (BLOCKS[eighths % 8] if eighths % 8 else "")


def decay_chart(result: dict, model: str = ""):
    """decay: one bar per distance bucket, length = mean |dx_t| relative to the largest bucket."""
    rows = result["rows"]
    top = max((r["mean"] for r in rows), default=0.0) or 1.0
    colour = "#{:02x}{:02x}{:02x}".format(*SEQUENTIAL)
    table = Table(title=f"mean |dx_t| by distance to the explained position{f' ({model})' if model else ''}, "
                        f"{result['records']} texts", title_justify="left", box=None, pad_edge=False)
    for name, justify in (("distance", "right"), ("mean |dx_t|", "left"), ("", "right"), ("share", "right"),
                          ("tokens", "right")):
        table.add_column(name, justify=justify)
    for r in rows:
        table.add_row(r["distance"], Text(bar(r["mean"] / top), style=colour), f"{r['mean']:.3g}",
                      f"{100 * r['share']:.1f}%", str(r["tokens"]))
    note = Text("share: the part of each text's total |dx_t| in the bucket, averaged over texts", style="dim")
    if "context" in result:  # a tagger: signed distance t - p, left context negative
        c = result["context"]
        note = Text(f"distance t - p from each explained position p ({result['positions']:,} positions): - left, "
                    f"+ right. Share left {100 * c['left']:.1f}%, the word itself {100 * c['self']:.1f}%, right "
                    f"{100 * c['right']:.1f}%, averaged over positions", style="dim")
    return Group(table, note)
