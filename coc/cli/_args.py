"""Option types shared by the commands (comma-separated lists, seeds), for argparse.

A leaf module: the commands import it, and it imports only ``coc.utils.validation`` (itself a
leaf), so no command needs ``coc.cli`` (which imports every command).
"""
from __future__ import annotations

import argparse

from coc.utils.validation import MAX_SEED, CocError, check_seed


def str_list(text):
    """``"a, b"`` -> ``["a", "b"]``."""
    return _items(text, str, "a comma-separated list")


def int_list(text):
    """``"1000,10_000"`` -> ``[1000, 10000]``."""
    return _items(text, lambda t: int(t.replace("_", "")), "comma-separated integers")


def float_list(text):
    """``"0.01,0.3"`` -> ``[0.01, 0.3]``."""
    return _items(text, float, "comma-separated numbers")


def _items(text, convert, expected):
    """Each comma-separated item of ``text``, converted; an empty item (``2,,3``, ``2,3,``)
    is refused, as a typo is more likely than a wish to skip one."""
    items = [t.strip() for t in text.split(",")]
    try:
        if all(items):
            return [convert(t) for t in items]
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected {expected} with no empty item, got {text!r}")


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
