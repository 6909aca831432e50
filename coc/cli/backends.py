"""``coc backends``: each backend, available or why not."""
from __future__ import annotations

from coc.backends import available_backends, resolve_name


def add_arguments(parser):
    """``coc backends`` takes no options."""


def main(args) -> int:
    """``coc backends``: each backend with ``available`` or the reason it is not."""
    status = available_backends()
    width = max(map(len, status))
    for name, reason in status.items():
        print(f"{name:<{width}}  {'available' if reason is None else 'unavailable: ' + reason}")
    print(f"aliases: cpu -> sklearn, gpu -> {resolve_name('gpu')}")
    return 0
