"""Terminal rendering with rich: the only package that imports rich.

Split by what it draws: colours (score ramps), text (one explanation, tokens coloured by score),
tables (consoles and plain tables), progress (bars on stderr), edits (flip, reduce, prototype),
summaries (evaluate and decay), exports (HTML and SVG). Callers import from here.
"""

# tables first: it imports rich.console, rich.table, rich.text in the order the single render module did
from .tables import console, simple_table
from .colours import ADDED, NEGATIVE, NEUTRAL, POSITIVE, REMOVED, SEQUENTIAL, mix, score_style
from .text import (KEEP, ExplanationView, field, fmt_score, header_fields, legend_fields, packed,
                   rows_view, scored_text, token_shown, top_table, wrapped)
from .views import explanation_text
from .progress import WorkProgress, record_progress, training_progress
from .edits import (PlainAware, flip_group, flip_text, marked_text, prediction_text, prototype_text, reduce_group,
                    reduce_text, shown_label, shown_token)
from .summaries import (BAR_WIDTH, BLOCKS, EVAL_COLUMNS, PLAUSIBILITY_COLUMNS, bar, decay_chart, evaluation_view,
                        randomization_table)
from .exports import EXPORT_WIDTH, export, recording_console

__all__ = [
    "ADDED", "BAR_WIDTH", "BLOCKS", "EVAL_COLUMNS", "EXPORT_WIDTH", "ExplanationView", "KEEP", "NEGATIVE", "NEUTRAL",
    "PLAUSIBILITY_COLUMNS", "POSITIVE", "PlainAware", "REMOVED", "SEQUENTIAL", "WorkProgress", "bar", "console",
    "decay_chart", "evaluation_view", "explanation_text", "export", "field", "flip_group", "flip_text", "fmt_score",
    "header_fields", "legend_fields", "marked_text", "mix", "packed", "prediction_text", "prototype_text",
    "randomization_table", "record_progress", "recording_console", "reduce_group", "reduce_text", "rows_view", "score_style",
    "scored_text", "shown_label", "shown_token", "simple_table", "token_shown", "top_table", "training_progress",
    "wrapped",
]
