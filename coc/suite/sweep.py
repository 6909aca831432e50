"""``coc sweep``: time many (backend, op, n_samples, dim) cells without pytest; resumable.

Each finished cell is appended to ``results.jsonl`` as one JSON line, flushed and fsynced, so
a crash or Ctrl-C loses at most the cell in flight. The same command run again reads the
file and skips every cell that already has a record (``ok``, ``skipped`` or ``failed``;
``--retry-failed`` runs the failed ones again, and the newer record wins). ``env.json``
describes the machine; ``table.md`` and ``scaling.png`` are written at the end.

A cell that cannot run here is *skipped* with the reason (backend unavailable, over the
profile's size limit, not enough free memory); one that raises is *failed* with the
exception, and the sweep goes on. Only KeyboardInterrupt stops it.

``--scheduler ADDRESS`` or ``--workers N`` runs the cells on a Dask cluster instead, one
task per cell (:mod:`coc.suite.distributed`); records, resume and reports are the same.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from tqdm.auto import tqdm

from coc.io.outputs import atomic_write_json
from coc.io.lock import FolderLock
from coc.suite.distributed import run_cells
from coc.suite.envinfo import collect_env
from coc.suite.records import (
    ENV_FILE,
    LOCK_FILE,
    RESULTS_FILE,
    append_record,
    check_appendable,
    finished_keys,
    read_env,
)
from coc.suite.runner import run_cell
from coc.utils.validation import CocError, check_n_samples


def run_sweep(cells, out, *, profile, repeats: int, progress: bool = True,
              retry_failed: bool = False, env: Optional[dict] = None, client=None) -> list:
    """Run ``cells`` not yet in ``out/results.jsonl``, appending one record per cell.

    Parameters
    ----------
    cells : list of coc.suite.cells.Cell
    out : path
        The result folder (made if needed); locked for the run (``.lock``).
    profile : coc.suite.profiles.Profile
        Whose size limits apply.
    repeats : int
        Timed repeats per cell.
    progress : bool
        Show a progress bar on stderr naming the cell in flight, with an ETA.
    retry_failed : bool
        Run again the cells whose record says ``failed``.
    env : dict, optional
        Written to ``env.json``; :func:`coc.suite.envinfo.collect_env` when omitted.
    client : dask.distributed.Client, optional
        Run the cells on its cluster (see :mod:`coc.suite.distributed`) instead of in this process.

    Returns
    -------
    list of coc.suite.records.Record
        The records written by this run (earlier ones stay in the file).

    Raises
    ------
    CocError
        Before any cell runs: another sweep holds the folder, or its files cannot be used
        (see :func:`open_result_folder`).
    """
    repeats = check_n_samples(repeats, minimum=1, name="repeats")
    out = make_folder(out)
    with FolderLock(out, name=LOCK_FILE, what="coc sweep"):
        done = open_result_folder(out, env=env or collect_env(), retry_failed=retry_failed)
        return run_pending(cells, done, out, profile=profile, repeats=repeats, progress=progress,
                          client=client)


def make_folder(out) -> Path:
    """``out``, made if needed; a CocError naming ``--out`` when it cannot be."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CocError(f"--out {out}: cannot make the folder ({e.strerror or e})") from None
    return out


def open_result_folder(out, *, env: Optional[dict], retry_failed: bool = False) -> set:
    """Check a result folder, repair a cut last record, add ``env`` to ``env.json``.

    Called with the folder's lock held, before any cell runs: every problem with the folder
    is an error here, not after a cell has run. ``env=None`` only checks (and repairs).
    Returns the keys of the cells done.
    """
    out = Path(out)
    results = out / RESULTS_FILE
    env_path = out / ENV_FILE
    previous = read_env(env_path)
    check_appendable(results)
    done = finished_keys(results, retry_failed=retry_failed, repair=True)
    if env is None:
        return done
    if previous is not None:
        # A resumed sweep keeps each machine description it ran under.
        runs = previous.get("runs", [previous])
        env = {**env, "runs": [*runs, {k: v for k, v in env.items() if k != "runs"}]}
    atomic_write_json(env_path, env)
    return done


def run_pending(cells, done, out, *, profile, repeats, progress, client) -> list:
    results = out / RESULTS_FILE
    todo = [c for c in cells if c.key not in done]
    written = []
    cache = {}
    bar = tqdm(total=len(todo), disable=not progress, unit="cell", file=sys.stderr,
               dynamic_ncols=True, initial=0)
    if progress and len(todo) < len(cells):
        bar.write(f"resuming: {len(cells) - len(todo)} of {len(cells)} cells already in {results}")

    def keep(record):
        append_record(results, record)
        written.append(record)
        bar.update(1)

    try:
        if client is not None:
            bar.set_description_str("on the Dask cluster")
            run_cells(client, todo, profile=profile, repeats=repeats, record=keep)
        else:
            for cell in todo:
                bar.set_description_str(cell.label)
                keep(run_cell(cell, profile, repeats=repeats, data_cache=cache))
    finally:
        cache.clear()
        bar.close()
    return written
