"""Shared fixtures: backends by name, skipping with the reason where one cannot run here."""
import pytest

import coc


def backend_or_skip(name):
    reason = coc.available_backends()[name]
    if reason is not None:
        pytest.skip(f"backend {name!r} cannot run here: {reason}")
    return coc.get_backend(name)


@pytest.fixture
def sklearn_backend():
    return coc.get_backend("sklearn")
