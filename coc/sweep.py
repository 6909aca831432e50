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
import json
import sys
from pathlib import Path
from typing import Optional

from tqdm.auto import tqdm

from coc import _args
from coc._io import atomic_write_json, check_writable_dir
from coc.cells import ALL_OPS, ITER_OPS
from coc.distributed import connect, run_cells
from coc.envinfo import collect_env, machine_tag
from coc.profiles import DEFAULT_PROFILE, DTYPES, PROFILES, get_profile, make_cells
from coc.records import ENV_FILE, RESULTS_FILE, STATUSES, append_record, finished_keys, load_results
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
        The result folder (made if needed).
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
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = out / RESULTS_FILE
    env_path = out / ENV_FILE
    env = env or collect_env()
    if env_path.exists():
        # A resumed sweep keeps each machine description it ran under.
        previous = json.loads(env_path.read_text(encoding="utf-8"))
        runs = previous.get("runs", [previous])
        env = {**env, "runs": [*runs, {k: v for k, v in env.items() if k != "runs"}]}
    atomic_write_json(env_path, env)

    done = finished_keys(results, retry_failed=retry_failed)
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
    p.add_argument("--profile", default=DEFAULT_PROFILE,
                   help=f"named cells and limits: {', '.join(PROFILES)} (default: "
                        f"{DEFAULT_PROFILE}); the options below replace its lists")
    p.add_argument("--backends", type=_args.str_list, default=None,
                   help="comma-separated backends or aliases (cpu, gpu)")
    p.add_argument("--ops", type=_args.str_list, default=None,
                   help=f"comma-separated ops from: {', '.join(ALL_OPS)}")
    p.add_argument("--n-samples", type=_args.int_list, default=None, help="comma-separated sizes")
    p.add_argument("--dim", "--dims", dest="dims", type=_args.int_list, default=None,
                   help="comma-separated dimensions (--dims is the same option)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per cell (after one warm-up)")
    p.add_argument("--dtype", choices=DTYPES, default=None, help="the data's dtype (default: the profile's)")
    p.add_argument("--k", type=int, default=None,
                   help="clusters of KMeans and of the silhouette's labels (default: the profile's)")
    p.add_argument("--max-iter", type=max_iter_arg, default=None, metavar="N|OP=N,...",
                   help="iteration budget of kmeans and tsne: one N for both, or per op "
                        "(kmeans=100,tsne=1000); default: the profile's")
    p.add_argument("--out", default=None,
                   help="result folder (default: results/sweeps/<machine tag>/); a folder with "
                        "results.jsonl is resumed")
    p.add_argument("--retry-failed", action="store_true", help="run again the cells recorded as failed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    cluster = p.add_mutually_exclusive_group()
    cluster.add_argument("--scheduler", default=None, metavar="ADDRESS",
                         help="run the cells on the running Dask scheduler at ADDRESS "
                              "(tcp://host:8786); needs pip install 'coc[dask]'")
    cluster.add_argument("--workers", type=int, default=None, metavar="N",
                         help="run the cells on a local Dask cluster of N workers (one per GPU "
                              "with dask-cuda)")


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
    if (out / RESULTS_FILE).exists() and not (out / RESULTS_FILE).is_file():
        raise CocError(f"{out / RESULTS_FILE} is not a file")
    if args.scheduler or args.workers is not None:
        cluster = connect(scheduler=args.scheduler, workers=args.workers)
    else:
        cluster = contextlib.nullcontext()
    with cluster as client:  # a bad address is an error before anything is written
        print(f"coc sweep: profile {profile.name}, {len(cells)} cells, {repeats} repeats -> {out}"
              + (f" on {client.scheduler.address}" if client is not None else ""), file=sys.stderr)
        records = run_sweep(cells, out, profile=profile, repeats=repeats, client=client,
                            progress=not args.no_progress, retry_failed=args.retry_failed, env=env)
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
    return 0
