"""Option types shared by the commands (comma-separated lists, seeds), for argparse.

A leaf module: the commands import it, and it imports only ``coc.utils.validation`` (itself a
leaf), so no command needs ``coc.cli`` (which imports every command).
"""
from __future__ import annotations

import argparse

from coc.utils.validation import MAX_SEED, CocError, check_seed


def str_list(text):
    """``"a, b"`` -> ``["a", "b"]``."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
    return items


def int_list(text):
    """``"1000,10_000"`` -> ``[1000, 10000]``."""
    try:
        items = [int(t.replace("_", "")) for t in text.split(",") if t.strip()]
    except ValueError:
        items = []
    if not items:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    return items


def float_list(text):
    """``"0.01,0.3"`` -> ``[0.01, 0.3]``."""
    try:
        items = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        items = []
    if not items:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")
    return items


def seed(text):
    """``"7"`` -> ``7``: the one seed rule (:func:`coc.utils.validation.check_seed`) for ``--seed``."""
    try:
        value = int(text.strip().replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    try:
        return check_seed(value)
    except CocError:
        raise argparse.ArgumentTypeError(f"a seed is an integer from 0 to {MAX_SEED}, got {text}") from None
