"""``coc sweep``: time (backend, op, n_samples, dim) cells (:mod:`coc.suite.sweep`)."""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from coc.cli import _args
from coc.io.lock import FolderLock
from coc.io.outputs import check_outputs_writable, check_writable_dir
from coc.suite.cells import ALL_OPS, ITER_OPS
from coc.suite.distributed import connect
from coc.suite.envinfo import collect_env, machine_tag
from coc.suite.profiles import DEFAULT_PROFILE, DTYPES, PROFILES, get_profile, make_cells
from coc.suite.records import ENV_FILE, LOCK_FILE, RESULTS_FILE, SCALING_FILE, TABLE_FILE, load_results
from coc.suite.report import write_report
from coc.suite.schema import STATUSES
from coc.suite.sweep import make_folder, open_result_folder, run_pending
from coc.utils.timing import harness_overhead
from coc.utils.validation import check_n_samples


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
    repeats = check_n_samples(repeats, minimum=1, name="--repeats")
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
        records = run_pending(cells, done, out, profile=profile, repeats=repeats, client=client,
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
