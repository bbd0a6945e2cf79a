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

# The paper's batch sizes eager and with CUDA graphs (the launch-overhead question), then the
# large-batch reference, compiled, float32 and the other stages.
perf chexnet-224 --method chexnet --preset paper
perf chexnet-224-graphs --method chexnet --preset paper --cuda-graphs
perf wfocal-effb3-600 --method wfocal-effb3 --preset paper --stage 2 --batches $((BATCHES / 4 + 1))
perf wfocal-effb3-600-graphs --method wfocal-effb3 --preset paper --stage 2 --batches $((BATCHES / 4 + 1)) --cuda-graphs
perf chexnet-224-b128 --method chexnet --preset paper --batch-size 128 --batches $((BATCHES / 5 + 1))
perf wfocal-effb3-300 --method wfocal-effb3 --preset paper
perf wfocal-effb3-300-graphs --method wfocal-effb3 --preset paper --cuda-graphs
perf chexnet-224-compiled --method chexnet --preset paper --compile
perf chexnet-224-fp32 --method chexnet --preset paper --no-amp
# Numerical equivalence of --cuda-graphs on the demo (mean validation AUROC, seeds 0-2), the
# NCCL process-group path, and the main job on the demo end to end on the GPU.
for seed in 0 1 2; do
    step run-chexnet-s$seed $BENCH run --method chexnet --split official --seed $seed --device "$DEVICE" --workers "$WORKERS" --quiet
    step run-chexnet-graphs-s$seed $BENCH run --method chexnet --split official --seed $seed --device "$DEVICE" --workers "$WORKERS" --cuda-graphs --quiet
done
step run-chexnet-nproc1 $BENCH run --method chexnet --split official --preset smoke --nproc 1 --device "$DEVICE" --workers "$WORKERS"
step run-wfocal-effb3 $BENCH run --method wfocal-effb3 --split official --device "$DEVICE" --workers "$WORKERS"

python3 - "$OUT_DIR" <<'EOF'
import json, pathlib, sys
print(f"{'measure':28} {'model':>8} {'cache':>8} {'e2e':>8} {'e2e/model':>9} {'steps/s':>8} {'outside':>8} {'epoch 78,468':>12}")
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.out")):
    try:
        r = json.loads(path.read_text())
    except ValueError:
        continue
    print(f"{path.stem:28} {r['model_only']:8.0f} {r['loader_cache']:8.0f} {r['end_to_end']:8.0f} "
          f"{r['end_to_end_over_model']:9.2f} {r['steps_per_s_model']:8.1f} {r['outside_kernels'] or 0:8.0%} "
          f"{78468 / r['end_to_end']:11.0f}s")
EOF

python3 - "$CXR_BENCH_RESULTS" <<'EOF'
import json, pathlib, sys
print(f"{'run':60} {'graphs':>6} {'seed':>4} {'img/s':>8} {'best val':>9} {'test':>7}")
for path in sorted(pathlib.Path(sys.argv[1]).glob("runs/*/record.json")):
    r = json.loads(path.read_text())
    last = r["stages"][-1]
    test = (r.get("metrics") or {}).get("test") or {}
    print(f"{r['run_id'][:60]:60} {str(r['invocation'].get('cuda_graphs')):>6} {r['seed']:4} "
          f"{last.get('train_images_per_s') or 0:8.0f} {last.get('best_val_auroc') or 0:9.4f} {test.get('mean') or 0:7.4f}")
EOF
