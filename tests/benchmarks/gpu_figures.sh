#!/usr/bin/env bash
# The GPU figures in the README's performance section, in one go, from the repository root:
#   bash tests/benchmarks/gpu_figures.sh [OUT_DIR]
# Each step writes its JSON or log under OUT_DIR as it finishes, so a cut-short run still
# reports what it measured. BENCH (default `python3 -m bench`), DEVICE (cuda), WORKERS (16)
# and BATCHES (200) can be set, and STEP_TIMEOUT (300 s) bounds each step; DEVICE=cpu
# BATCHES=2 WORKERS=2 checks the script itself. The most wanted figures come first.
set -u
OUT_DIR=${1:-gpu-figures}
BENCH=${BENCH:-python3 -m bench}
DEVICE=${DEVICE:-cuda}
WORKERS=${WORKERS:-16}
BATCHES=${BATCHES:-200}
STEP_TIMEOUT=${STEP_TIMEOUT:-300}
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1
export CXR_BENCH_RESULTS=${CXR_BENCH_RESULTS:-$OUT_DIR/results}

step() {  # step NAME COMMAND...: time a command, keep its output, go on if it fails
    local name=$1; shift
    local t0=$SECONDS
    echo "== $name: $*"
    timeout -s INT -k 20 "$STEP_TIMEOUT" "$@" >"$OUT_DIR/$name.out" 2>"$OUT_DIR/$name.err"
    echo "== $name: exit $? after $((SECONDS - t0)) s"
    tail -n 3 "$OUT_DIR/$name.err"
}

perf() {  # perf NAME ARGS...: one `bench perf` on rendered demo images, as JSON
    step "$1" $BENCH perf --device "$DEVICE" --workers "$WORKERS" --batches "$BATCHES" --source-size 256 --json "${@:2}"
}

# Input pipeline vs model at the paper's sizes (issue 6's targets): bf16, then compiled, float32.
perf chexnet-224 --method chexnet --preset paper
perf wfocal-effb3-300 --method wfocal-effb3 --preset paper
perf chexnet-224-b128 --method chexnet --preset paper --batch-size 128 --batches $((BATCHES / 5 + 1))
perf chexnet-224-compiled --method chexnet --preset paper --compile
perf focal-densenet121-224 --method focal-densenet121 --preset paper
perf chexnet-224-fp32 --method chexnet --preset paper --no-amp
perf wfocal-effb3-600 --method wfocal-effb3 --preset paper --stage 2 --batches $((BATCHES / 4 + 1))
# The NCCL process-group path, and the main job on the demo end to end on the GPU.
step run-chexnet-nproc1 $BENCH run --method chexnet --split official --preset smoke --nproc 1 --device "$DEVICE" --workers "$WORKERS"
step run-wfocal-effb3 $BENCH run --method wfocal-effb3 --split official --device "$DEVICE" --workers "$WORKERS"

python3 - "$OUT_DIR" <<'EOF'
import json, pathlib, sys
print(f"{'measure':28} {'model':>8} {'cache':>8} {'e2e':>8} {'e2e/model':>9} {'epoch 78,468':>12}")
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.out")):
    try:
        r = json.loads(path.read_text())
    except ValueError:
        continue
    print(f"{path.stem:28} {r['model_only']:8.0f} {r['loader_cache']:8.0f} {r['end_to_end']:8.0f} "
          f"{r['end_to_end_over_model']:9.2f} {78468 / r['end_to_end']:11.0f}s")
EOF
