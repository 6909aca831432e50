"""README.md's commands run as written.

Every ``bash`` block in the README carries a marker on the line before it: ``<!-- runnable -->``
(this test runs it, whole, in a fresh folder, with the ``coc`` of the environment under test)
or ``<!-- not run by tests/test_readme.py: REASON -->`` (an install, a run of minutes, a GPU).
A block without a marker fails the test, so a new command cannot slip past it.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
RUNNABLE = "<!-- runnable -->"
SKIPPED = re.compile(r"<!-- not run by tests/test_readme\.py: (.+\S) -->")


def shell_blocks(text):
    """``(marker, body, line)`` for each bash block of ``text``; ``marker`` is the line above
    the opening fence (stripped), ``line`` the fence's 1-based line number."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() == "```bash":
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
            marker = lines[i - 1].strip() if i else ""
            blocks.append((marker, "\n".join(lines[i + 1:end]), i + 1))
            i = end
        i += 1
    return blocks


def test_shell_blocks_reads_markers_and_bodies():
    text = "intro\n<!-- runnable -->\n```bash\ncoc backends\n```\n\n```bash\nrm -rf /\n```\n"
    assert shell_blocks(text) == [(RUNNABLE, "coc backends", 3), ("", "rm -rf /", 7)]


def test_every_shell_block_is_marked():
    unmarked = [line for marker, _, line in shell_blocks(README.read_text(encoding="utf-8"))
                if marker != RUNNABLE and not SKIPPED.fullmatch(marker)]
    assert not unmarked, f"README.md's bash blocks at lines {unmarked} say neither runnable nor why not"


def _runnable():
    return [(body, line) for marker, body, line in shell_blocks(README.read_text(encoding="utf-8"))
            if marker == RUNNABLE]


def test_the_readme_has_runnable_blocks():
    assert _runnable(), "README.md marks no block runnable"


@pytest.mark.parametrize("body,line", _runnable(), ids=lambda v: f"line-{v}" if isinstance(v, int) else "")
def test_readme_block_runs_as_written(body, line, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    # The environment under test first: its coc and its python, as after the README's install.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", body], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"README.md block at line {line} failed:\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
