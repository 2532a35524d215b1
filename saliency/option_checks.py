"""Checks of the options several commands share (--limit, --seed), so each refuses alike: one
UsageError line (exit 2) naming the option, whatever the command (explain's smoothgrad, evaluate,
decay, prototype), instead of a traceback from islice or numpy for 10**23 or -1."""

import sys

from .errors import UsageError

MAX_SEED = 2**63 - 1


def check_limit(value, option: str = "--limit"):
    """None (no limit) or a whole number from 1 to sys.maxsize."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= sys.maxsize:
        raise UsageError(f"{option} must be a whole number from 1 to {sys.maxsize:,} (got {str(value)[:30]})")
    return value


def check_seed(value, option: str = "--seed"):
    """None or a whole number from 0 to 2**63 - 1 (numpy's generators refuse negative seeds)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise UsageError(f"{option} must be a whole number from 0 to 2**63 - 1 (got {str(value)[:30]})")
    return value
