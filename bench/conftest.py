"""pytest-benchmark suite of coc: the cells of a named profile (``coc.suite.profiles.PROFILES``).

    pytest bench                                  # smoke profile: seconds on a 2-core CPU
    pytest bench --coc-profile laptop             # or COC_BENCH_PROFILE=laptop
    pytest bench --coc-backends sklearn,opentsne,faiss   # the profile's cells on these backends
    pytest bench --benchmark-json F               # then: pytest-benchmark compare F
    pytest tests bench --benchmark-disable        # CI: each cell runs once, untimed

The option is ``--coc-profile`` rather than ``--profile``, which pytest-profiling owns.
The JSON's ``machine_info["coc"]`` holds the same machine facts as a sweep's env.json
(``coc.suite.envinfo.collect_env``: CPU, BLAS and its threads, GPU and driver, packages, commit).
"""
import os

import pytest

from coc.suite.envinfo import collect_env
from coc.suite.profiles import DEFAULT_PROFILE, PROFILES, get_profile, make_cells


def pytest_addoption(parser):
    group = parser.getgroup("coc", "coc benchmark suite")
    group.addoption(
        "--coc-profile",
        default=os.environ.get("COC_BENCH_PROFILE", DEFAULT_PROFILE),
        choices=sorted(PROFILES),
        help=f"named set of benchmark cells (default: $COC_BENCH_PROFILE or {DEFAULT_PROFILE})",
    )
    group.addoption(
        "--coc-backends",
        default=os.environ.get("COC_BENCH_BACKENDS"),
        help="comma-separated backends replacing the profile's, peers included "
             "(e.g. sklearn,numpy,opentsne,faiss; default: $COC_BENCH_BACKENDS or the profile's)",
    )


@pytest.fixture(scope="session")
def bench_profile(request):
    return get_profile(request.config.getoption("--coc-profile"))


def pytest_generate_tests(metafunc):
    if "cell" in metafunc.fixturenames:
        profile = get_profile(metafunc.config.getoption("--coc-profile"))
        backends = metafunc.config.getoption("--coc-backends")
        cells = make_cells(profile, backends=backends.split(",") if backends else None)
        metafunc.parametrize("cell", cells, ids=[c.label for c in cells])


def pytest_benchmark_update_machine_info(config, machine_info):
    """Put env.json's machine facts into the benchmark JSON (``machine_info["coc"]``)."""
    machine_info["coc"] = collect_env()
