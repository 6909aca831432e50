#!/usr/bin/env bash
# The GPU check: one prepared command for a CUDA machine lease (CuPy, scikit-learn, pytest,
# pytest-benchmark installed; no network, no cuML needed). Runs from a checkout, no install.
#
#     bash bench/gpu_check.sh OUT [PART...]        # default parts: a b c d e (~6 minutes)
#
# The whole default check fits one call of timeout_s=380: each part has its own `timeout`
# and is packed into OUT/<part>.tar.gz as soon as it finishes (or is cut short), so a call
# that is cut short still returns the parts that finished; a second call names only the
# parts that failed (OUT/status.txt: one line per part with its exit status and seconds;
# 124 = its timeout). At most 7 files land in OUT (6 parts + status.txt), none deeper than
# OUT/file; the parts' files are written under $COC_CHECK_WORK (default /tmp/coc-gpu-check).
#
# Parts, in order of value (timeout in seconds, env var to change it):
#   a (120, COC_T_A)  nvidia-smi, `coc backends`, the $GPU parity tests (generation, KMeans,
#                     silhouette, t-SNE against scikit-learn on the host)
#   b  (30, COC_T_B)  the card's floors: matmul rate, copy bandwidth (bench/floors.py)
#   c  (60, COC_T_C)  `coc experiment --backend $GPU` (the notebook's table and tsne.png)
#   d (100, COC_T_D)  sweep, profile gpu-check: generate, kmeans (100 iterations), silhouette
#                     at n_samples $COC_CHECK_N (1e4,1e5,1e6) x dims $COC_CHECK_DIMS (32,128),
#                     $GPU and sklearn (sklearn only at the sizes the profile's limits allow:
#                     seconds on 16 cores), 2 repeats; quality of each cell recorded
#   e  (60, COC_T_E)  sweep, profile gpu-check: t-SNE (each engine's default iterations) at $COC_CHECK_TSNE_N
#                     (1e4,1e5) x dims, same backends
#   f (300, COC_T_F)  not in the default: t-SNE of $COC_CHECK_BIG_N (1e6) x 32, $GPU only,
#                     one repeat (a second call: `bash bench/gpu_check.sh OUT f`)
# Each sweep part resumes inside its own work folder if re-run on the same machine.
#
# Rehearsal on a CPU (numpy standing in for cupy, small sizes; every part, ~3 minutes on 2
# cores):
#     COC_GPU_BACKEND=numpy COC_CHECK_N=2000,5000 COC_CHECK_DIMS=32 COC_CHECK_TSNE_N=1000 \
#     COC_CHECK_BIG_N=2000 COC_FLOORS_ARGS="--n-matmul 512 --copy-mib 32" \
#     bash bench/gpu_check.sh /tmp/rehearsal a b c d e f
set -uo pipefail
out=${1:?usage: bash bench/gpu_check.sh OUT [PART...] (parts: a b c d e f)}
shift
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(a b c d e)
cd "$(dirname "$0")/.."
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=${COC_CHECK_WORK:-/tmp/coc-gpu-check}
mkdir -p "$work"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" MPLBACKEND=Agg
gpu=${COC_GPU_BACKEND:-cupy}
ref=${COC_REF_BACKEND:-sklearn}
sizes=${COC_CHECK_N:-10000,100000,1000000}
dims=${COC_CHECK_DIMS:-32,128}
tsne_sizes=${COC_CHECK_TSNE_N:-10000,100000}
big=${COC_CHECK_BIG_N:-1000000}
sweep=(python -m coc sweep --profile gpu-check --no-progress)

part_a() {
    { nvidia-smi || echo "nvidia-smi: not available here"; } > "$1/nvidia-smi.txt" 2>&1
    python -m coc backends > "$1/backends.txt" 2>&1
    python -m pytest -q -p no:cacheprovider -k "$gpu" \
        tests/kernels/test_kernels_silhouette.py tests/kernels/test_kernels_kmeans.py tests/kernels/test_kernels_tsne.py \
        tests/backends/test_backend_parity.py > "$1/gpu-tests.log" 2>&1
}
part_b() {
    # shellcheck disable=SC2086 # COC_FLOORS_ARGS is a list of options
    python bench/floors.py --backend "$gpu" ${COC_FLOORS_ARGS:-} --out "$1/floors.json" > "$1/floors.log" 2>&1
}
part_c() {
    python -m coc experiment --backend "$gpu" --out "$1/experiment" > "$1/experiment.log" 2>&1
}
part_d() {
    "${sweep[@]}" --backends "$ref,$gpu" --ops generate,kmeans,silhouette --n-samples "$sizes" \
        --dims "$dims" --out "$1/sweep" > "$1/sweep.log" 2>&1
}
part_e() {
    "${sweep[@]}" --backends "$ref,$gpu" --ops tsne --n-samples "$tsne_sizes" --dims "$dims" \
        --out "$1/sweep" > "$1/sweep.log" 2>&1
}
part_f() {
    "${sweep[@]}" --backends "$gpu" --ops tsne --n-samples "$big" --dims 32 --repeats 1 \
        --out "$1/sweep" > "$1/sweep.log" 2>&1
}

# A sweep cut short by its timeout has records but no table yet: write it from the records.
report_if_needed() {
    local dir=$1/sweep
    if [ -s "$dir/results.jsonl" ] && [ ! -e "$dir/table.md" ]; then
        timeout 60 python - "$dir" <<'EOF' || true
import sys
from coc.suite.records import load_results
from coc.suite.report import write_report
records, _ = load_results(sys.argv[1])
write_report(records, sys.argv[1], title=f"{sys.argv[1]} (cut short by its timeout)")
EOF
    fi
}

declare -A limit=([a]=${COC_T_A:-120} [b]=${COC_T_B:-30} [c]=${COC_T_C:-60} [d]=${COC_T_D:-100}
                  [e]=${COC_T_E:-60} [f]=${COC_T_F:-300})
for p in "${parts[@]}"; do
    if [ -z "${limit[$p]:-}" ]; then
        echo "gpu_check: unknown part '$p' (parts: a b c d e f); nothing run" >&2
        exit 2
    fi
done
status=0
for p in "${parts[@]}"; do
    dir=$work/$p
    mkdir -p "$dir"
    export -f "part_$p"
    export gpu ref sizes dims tsne_sizes big
    start=$SECONDS
    # The part runs in its own shell so that `timeout` ends it, children included.
    timeout --kill-after=10 "${limit[$p]}" bash -c "sweep=(${sweep[*]}); part_$p '$dir'"
    rc=$?
    report_if_needed "$dir"
    tar -czf "$out/$p.tar.gz" -C "$work" "$p"
    echo "$p rc=$rc seconds=$((SECONDS - start)) limit=${limit[$p]}" | tee -a "$out/status.txt"
    [ "$rc" -ne 0 ] && status=1
done
exit $status
