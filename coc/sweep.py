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
task per cell (:mod:`coc.distributed`); records, resume and reports are the same.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Optional

from tqdm.auto import tqdm

from coc import _args
from coc._io import atomic_write_json, check_outputs_writable, check_writable_dir
from coc._lock import FolderLock
from coc.cells import ALL_OPS, ITER_OPS
from coc.distributed import connect, run_cells
from coc.envinfo import collect_env, machine_tag
from coc.profiles import DEFAULT_PROFILE, DTYPES, PROFILES, get_profile, make_cells
from coc.records import (
    ENV_FILE,
    LOCK_FILE,
    RESULTS_FILE,
    SCALING_FILE,
    TABLE_FILE,
    append_record,
    check_appendable,
    finished_keys,
    load_results,
    read_env,
)
from coc.schema import STATUSES
from coc.report import write_report
from coc.runner import run_cell
from coc.timing import harness_overhead
from coc.validation import CocError


def run_sweep(cells, out, *, profile, repeats: int, progress: bool = True,
              retry_failed: bool = False, env: Optional[dict] = None, client=None) -> list:
    """Run ``cells`` not yet in ``out/results.jsonl``, appending one record per cell.

    Parameters
    ----------
    cells : list of coc.cells.Cell
    out : path
        The result folder (made if needed); locked for the run (``.lock``).
    profile : coc.profiles.Profile
        Whose size limits apply.
    repeats : int
        Timed repeats per cell.
    progress : bool
        Show a progress bar on stderr naming the cell in flight, with an ETA.
    retry_failed : bool
        Run again the cells whose record says ``failed``.
    env : dict, optional
        Written to ``env.json``; :func:`coc.envinfo.collect_env` when omitted.
    client : dask.distributed.Client, optional
        Run the cells on its cluster (see :mod:`coc.distributed`) instead of in this process.

    Returns
    -------
    list of coc.records.Record
        The records written by this run (earlier ones stay in the file).

    Raises
    ------
    CocError
        Before any cell runs: another sweep holds the folder, or its files cannot be used
        (see :func:`open_result_folder`).
    """
    out = make_folder(out)
    with FolderLock(out, name=LOCK_FILE, what="coc sweep"):
        done = open_result_folder(out, env=env or collect_env(), retry_failed=retry_failed)
        return _run_cells(cells, done, out, profile=profile, repeats=repeats, progress=progress,
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


def _run_cells(cells, done, out, *, profile, repeats, progress, client) -> list:
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


# -- command line ---------------------------------------------------------------------------
def add_arguments(p) -> None:
    """Options of ``coc sweep``."""
    p.epilog = (
        "Resuming: a folder that holds results.jsonl is resumed, and every cell with a record "
        "there is never run again, whatever its status: ok, skipped (backend unavailable, over a "
        "size limit, not enough memory) or failed. To run cells again: --retry-failed runs the "
        "failed ones; for skipped ones (a GPU installed since, a bigger --profile), give a new "
        "--out, or remove their lines from results.jsonl. One sweep at a time may use a folder "
        "(it holds the lock file .lock); a line cut short by a crash is removed on the next run.")
    p.add_argument("--profile", default=DEFAULT_PROFILE,
                   help=f"named cells and limits: {', '.join(PROFILES)} (default: "
                        f"{DEFAULT_PROFILE}); the options below replace its lists")
    p.add_argument("--backends", type=_args.str_list, default=None,
                   help="comma-separated backends or aliases (cpu, gpu) (default: the profile's)")
    p.add_argument("--ops", type=_args.str_list, default=None,
                   help=f"comma-separated ops from: {', '.join(ALL_OPS)} (default: the profile's)")
    p.add_argument("--n-samples", type=_args.int_list, default=None,
                   help="comma-separated sizes (default: the profile's)")
    p.add_argument("--dim", "--dims", dest="dims", type=_args.int_list, default=None,
                   help="comma-separated dimensions; --dims is the same option (default: the profile's)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed repeats per cell, after one warm-up (default: the profile's, "
                        + ", ".join(f"{name} {prof.repeats}" for name, prof in PROFILES.items()) + ")")
    p.add_argument("--dtype", choices=DTYPES, default=None, help="the data's dtype (default: the profile's)")
    p.add_argument("--k", type=int, default=None,
                   help="clusters of KMeans and of the silhouette's labels (default: the profile's)")
    p.add_argument("--max-iter", type=max_iter_arg, default=None, metavar="N|OP=N,...",
                   help="iteration budget of kmeans and tsne: one N for both, or per op "
                        "(kmeans=100,tsne=1000); default: the profile's")
    p.add_argument("--out", default=None,
                   help="result folder (default: results/sweeps/<machine tag>/); a folder with "
                        "results.jsonl is resumed (see below)")
    p.add_argument("--retry-failed", action="store_true",
                   help="run again the cells recorded as failed (default: never re-run a recorded cell)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (default: show one)")
    cluster = p.add_mutually_exclusive_group()
    cluster.add_argument("--scheduler", default=None, metavar="ADDRESS",
                         help="run the cells on the running Dask scheduler at ADDRESS "
                              "(tcp://host:8786); needs pip install 'coc[dask]'")
    cluster.add_argument("--workers", type=int, default=None, metavar="N",
                         help="run the cells on a local Dask cluster of N workers (one per GPU "
                              "with dask-cuda) (default: in this process)")


def max_iter_arg(text: str):
    """``--max-iter``: ``N`` (every iterative op) or ``op=N,op=N`` (those ops)."""
    def number(value):
        try:
            return int(value.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None

    if "=" not in text:
        return number(text)
    budgets = {}
    for item in _args.str_list(text):
        op, _, value = item.partition("=")
        if op not in ITER_OPS:
            raise argparse.ArgumentTypeError(
                f"{op!r} has no iteration budget; choose from {', '.join(ITER_OPS)}")
        budgets[op] = number(value)
    return budgets


def main(args) -> int:
    """Run ``coc sweep``; returns the exit status."""
    profile = get_profile(args.profile)
    repeats = profile.repeats if args.repeats is None else args.repeats
    if repeats < 1:
        raise CocError(f"--repeats must be >= 1, got {repeats}")
    cells = make_cells(
        profile, backends=args.backends, ops=args.ops, n_samples=args.n_samples, dims=args.dims,
        dtype=args.dtype, k=args.k, max_iter=args.max_iter,
    )
    env = collect_env()
    # What the clock adds to each timed call on this machine, for the suite's own accounting.
    env["harness_overhead_s"] = harness_overhead(sync=lambda: None)
    out = check_writable_dir(Path(args.out or Path("results") / "sweeps" / machine_tag(env)))
    check_outputs_writable([out / TABLE_FILE, out / SCALING_FILE])
    with contextlib.ExitStack() as stack:
        if out.is_dir():
            # A folder with a history: another sweep in it, or damaged files, is an error now,
            # before a cluster is started or a cell runs.
            stack.enter_context(FolderLock(out, name=LOCK_FILE, what="coc sweep"))
            open_result_folder(out, env=None, retry_failed=args.retry_failed)
        if args.scheduler or args.workers is not None:
            cluster = connect(scheduler=args.scheduler, workers=args.workers)
        else:
            cluster = contextlib.nullcontext()
        client = stack.enter_context(cluster)  # a bad address is an error before anything is written
        if not out.is_dir():
            stack.enter_context(FolderLock(make_folder(out), name=LOCK_FILE, what="coc sweep"))
        done = open_result_folder(out, env=env, retry_failed=args.retry_failed)
        print(f"coc sweep: profile {profile.name}, {len(cells)} cells, {repeats} repeats -> {out}"
              + (f" on {client.scheduler.address}" if client is not None else ""), file=sys.stderr)
        records = _run_cells(cells, done, out, profile=profile, repeats=repeats, client=client,
                             progress=not args.no_progress)
        _report(out, env, records)
    return 0


def _report(out, env, records) -> None:
    all_records, _label = load_results(out)
    title = f"coc sweep on {machine_tag(env)}"
    fastest = min((r["median_s"] for r in all_records if r.get("status") == "ok"), default=None)
    note = f"Harness overhead: {env['harness_overhead_s'] * 1e9:.0f} ns per timed call"
    if fastest:
        note += f", {100 * env['harness_overhead_s'] / fastest:.2f}% of the fastest cell's median"
    table, png = write_report(all_records, out, title=title, note=note + ".")
    counts = {s: sum(r.status == s for r in records) for s in STATUSES}
    print(Path(table).read_text(encoding="utf-8"))
    print(f"coc sweep: ran {len(records)} cells ({', '.join(f'{v} {k}' for k, v in counts.items())}); "
          f"wrote {out / RESULTS_FILE}, {out / ENV_FILE}, {table}, {png}", file=sys.stderr)
