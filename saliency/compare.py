"""Methods side by side: one text explained by several methods, one row per method.

    from saliency import load_model
    from saliency.compare import compare
    (exp,) = compare(load_model("sst2-lstm"), ["a gorgeous , witty movie"], ["grad-input", "lrp"])
    exp.rows  # [{"method", "signed", "params", "value", "scores", "completeness"?}, ...]

Each method runs as it would alone (its own batches, its own parameters out of the shared
options), so a row equals that method's own explanation of the text. The Explanation returned
is the first method's, with `method` the methods joined by commas and `rows` one per method.
"""

from .errors import SaliencyError, UsageError


def method_names(spec) -> list:
    """"a,b,c" (or a list) -> ["a", "b", "c"]; a method named twice is refused."""
    names = [m.strip() for m in spec.split(",")] if isinstance(spec, str) else list(spec)
    if not names or not all(names):
        raise UsageError(f"--method: {spec!r} names an empty method")
    twice = sorted({m for m in names if names.count(m) > 1})
    if twice:
        raise UsageError(f"--method: {', '.join(twice)} named twice")
    return names


def explain(explainer, texts, method, **options):
    """explainer.explain, or compare when `method` names several methods ("a,b")."""
    if isinstance(method, str) and "," not in method:
        return explainer.explain(texts, method, **options)
    return compare(explainer, texts, method_names(method), **options)


def compare(explainer, texts, methods, errors="raise", **options) -> list:
    """One Explanation per text with a row per method; a text that any method cannot explain
    gets that method's error (raised, or in its place with errors="return")."""
    methods = method_names(methods)
    if options.get("target") == "all" or options.get("position") == "all":
        raise UsageError("several methods side by side explain one target: drop --target all / --position all")
    results = {m: explainer.explain(texts, m, errors="return", **options) for m in methods}
    out = []
    for i in range(len(texts)):
        failed = next((results[m][i] for m in methods if isinstance(results[m][i], Exception)), None)
        out.append(failed if failed is not None else merged([results[m][i] for m in methods]))
    if errors == "raise":
        for result in out:
            if isinstance(result, SaliencyError):
                raise result
    return out


def merged(explanations):
    """The first explanation, carrying every method's scores as rows."""
    first = explanations[0]
    rows = []
    for exp in explanations:
        row = {"method": exp.method, "signed": exp.signed, "params": exp.params, "value": exp.target["value"],
               "scores": [t.score for t in exp.tokens]}
        if exp.completeness is not None:
            row["completeness"] = exp.completeness
        rows.append(row)
    first.params = {exp.method: exp.params for exp in explanations}
    first.method = ",".join(exp.method for exp in explanations)
    first.signed = all(exp.signed for exp in explanations)
    first.completeness = None  # per method, in its row
    first.rows = rows
    return first
