#!/usr/bin/env bash
# The GPU check, one prepared command for a CUDA machine (CuPy, scikit-learn, pytest and
# pytest-benchmark installed; no network, no cuML needed):
#
#     bash bench/gpu_check.sh OUT_DIR
#
# writes into OUT_DIR: backends.txt, gpu-tests.log (the cupy/cuml parity tests against
# scikit-learn on the host), floors.json (matmul rate, copy bandwidth of this card), and
# sweep/ (a workstation sweep of sklearn and cupy: results.jsonl, env.json, table.md,
# scaling.png, about 8 minutes on an H100). Runs from a checkout without installing.
set -uo pipefail
out=${1:?usage: bash bench/gpu_check.sh OUT_DIR}
cd "$(dirname "$0")/.."
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" MPLBACKEND=Agg
nvidia-smi > "$out/nvidia-smi.txt" 2>&1
python -m coc backends | tee "$out/backends.txt"
timeout "${COC_GPU_TEST_TIMEOUT:-240}" python -m pytest -q -p no:cacheprovider -k "cupy or cuml" \
    tests/test_kernels_silhouette.py tests/test_kernels_kmeans.py tests/test_kernels_tsne.py \
    tests/test_backend_parity.py 2>&1 | tee "$out/gpu-tests.log"
python bench/floors.py --backend cupy --out "$out/floors.json" 2>&1 | tee "$out/floors.log"
timeout "${COC_GPU_SWEEP_TIMEOUT:-480}" python -m coc sweep --profile workstation \
    --backends sklearn,cupy --no-progress --out "$out/sweep" 2>&1 | tee "$out/sweep.log"
