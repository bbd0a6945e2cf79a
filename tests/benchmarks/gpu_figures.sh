#!/usr/bin/env bash
# The GPU figures in the README's performance section, in one go, from the repository root:
#   bash tests/benchmarks/gpu_figures.sh [OUT_DIR]
# Each step writes its JSON or log under OUT_DIR as it finishes, so a cut-short run still
# reports what it measured. PYTHON (python3) and BENCH (`$PYTHON -m bench`), DEVICE (cuda), WORKERS (16)
# and BATCHES (200) can be set, and STEP_TIMEOUT (300 s) bounds each step; DEVICE=cpu
# BATCHES=2 WORKERS=2 checks the script itself. The most wanted figures come first.
# PARTS (default "perf equivalence extra") picks the parts, so that each call fits a time limit:
#   perf         `bench perf` at the paper's batch sizes, eager and captured (~3-5 min on a GPU)
#   equivalence  chexnet on the demo over seeds 0-2, eager and with --cuda-graphs (~3-5 min)
#   extra        the NCCL path with one process, and the main job on the GPU
#   epoch        one real-length epoch of each wfocal-effb3 stage on the full-length synthetic
#                set (`bench data demo --full`, rendered at 256 px into FULL_DATA), with its
#                validation and test passes, and the 25 + 25-epoch projection (~8-10 min)
#   full         only the rendering of that set (~2 min), for a call of its own before `epoch`
#   cpu          the host CPU's flags, and `bench perf --device cpu` of the main job's stages in
#                float32 and with --cpu-bf16 (bf16 pays only on CPUs with AMX or AVX-512-BF16; ~2 min)
# EPOCH_FLAGS adds options to the epoch run (e.g. "--cuda-graphs"). EPOCH_SPLIT=1 stops that run
# (SIGINT) once its first stage's epoch is recorded, and the next call with PARTS=epoch resumes
# it for stage 2 and the test passes: two calls of ~4-6 min instead of one that may not fit 10
# (a call that STEP_TIMEOUT cuts short is resumed the same way). The set takes 4.1 GB and its
# image caches at 300 and 600 px 10 + 40 GB; with under 55 GB free the run reads the PNGs
# (--no-cache) instead. The minutes above are estimates from the rates in docs/performance.md.
# In one 15-minute GPU budget: PARTS=perf, then PARTS=equivalence; PARTS=full, then PARTS=epoch
# (EPOCH_FLAGS=--cuda-graphs too, if the equivalence held) fill another; a machine keeps the
# rendered set only while it stays warm, so call `epoch` straight after `full`.
# Dependencies the machine lacks travel as wheels in .whl/ (tests/benchmarks/gpu_wheels.sh fetches
# them here), installed into /tmp/site first. The script stops within seconds when `bench` does
# not start or DEVICE=cuda finds no GPU. ARCHIVE=FILE.tar.gz packs the logs, JSON and records
# (no checkpoints, images or caches) into one file at the end, for machines that return few files.
set -u -o pipefail
OUT_DIR=${1:-gpu-figures}
PYTHON=${PYTHON:-python3}
BENCH=${BENCH:-$PYTHON -m bench}
DEVICE=${DEVICE:-cuda}
WORKERS=${WORKERS:-16}
BATCHES=${BATCHES:-200}
STEP_TIMEOUT=${STEP_TIMEOUT:-300}
PARTS=${PARTS:-perf equivalence extra}
FULL_DATA=${FULL_DATA:-$OUT_DIR/full-256}
EPOCH_FLAGS=${EPOCH_FLAGS:-}
EPOCH_SPLIT=${EPOCH_SPLIT:-0}
ARCHIVE=${ARCHIVE:-}
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1
export CXR_BENCH_RESULTS=${CXR_BENCH_RESULTS:-$OUT_DIR/results}

if [[ -n $ARCHIVE ]]; then
    trap 'tar -czf "$ARCHIVE" -C "$OUT_DIR" --exclude="*.pt" --exclude="*.png" --exclude="*.parquet" \
        --exclude="$(basename "$FULL_DATA")" . && echo "== archive: $ARCHIVE"' EXIT
fi
if compgen -G ".whl/*.whl" >/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
# The software the figures were measured with, and a start that fails in seconds, not minutes.
"$PYTHON" - "$DEVICE" <<'EOF' | tee "$OUT_DIR/versions.log" || exit 1
import platform, sys
import timm, torch
gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
print(f"python {platform.python_version()}, torch {torch.__version__}, cuda {torch.version.cuda}, "
      f"cudnn {torch.backends.cudnn.version()}, timm {timm.__version__}, gpu {gpu}")
if sys.argv[1].startswith("cuda") and gpu is None:
    sys.exit("== DEVICE=cuda, but torch sees no GPU")
EOF
$BENCH methods list >/dev/null 2>"$OUT_DIR/preflight.err" || { echo "== bench does not start:"; tail -n 3 "$OUT_DIR/preflight.err"; exit 1; }

step() {  # step NAME COMMAND...: time a command, keep its output, go on if it fails
    local name=$1; shift
    local t0=$SECONDS
    echo "== $name: $*"
    timeout -s INT -k 20 "$STEP_TIMEOUT" "$@" >"$OUT_DIR/$name.out" 2>"$OUT_DIR/$name.err" &
    echo $! >"$OUT_DIR/$name.pid"  # timeout's: a SIGINT to it reaches the command as one
    wait $!
    echo "== $name: exit $? after $((SECONDS - t0)) s"
    echo $((SECONDS - t0)) >"$OUT_DIR/$name.seconds"
    tail -n 3 "$OUT_DIR/$name.err"
}

perf() {  # perf NAME ARGS...: one `bench perf` on rendered demo images, as JSON
    step "$1" $BENCH perf --device "$DEVICE" --workers "$WORKERS" --batches "$BATCHES" --source-size 256 --json "${@:2}"
}

want() { [[ " $PARTS " == *" $1 "* ]]; }

if want perf; then
    # The paper's batch sizes eager and with CUDA graphs (the launch-overhead question), then the
    # large-batch reference, compiled, float32 and the other stages.
    perf chexnet-224 --method chexnet --preset paper
    perf chexnet-224-graphs --method chexnet --preset paper --cuda-graphs
    perf chexnet-224-graphs-fused --method chexnet --preset paper --cuda-graphs --set optimizer.params.fused=true
    perf wfocal-effb3-600 --method wfocal-effb3 --preset paper --stage 2 --batches $((BATCHES / 4 + 1))
    perf wfocal-effb3-600-graphs --method wfocal-effb3 --preset paper --stage 2 --batches $((BATCHES / 4 + 1)) --cuda-graphs
    perf chexnet-224-b128 --method chexnet --preset paper --batch-size 128 --batches $((BATCHES / 5 + 1))
    perf wfocal-effb3-300 --method wfocal-effb3 --preset paper
    perf wfocal-effb3-300-graphs --method wfocal-effb3 --preset paper --cuda-graphs
    perf chexnet-224-compiled --method chexnet --preset paper --compile
    perf chexnet-224-fp32 --method chexnet --preset paper --no-amp
    perf chexnet-224-fused --method chexnet --preset paper --set optimizer.params.fused=true
fi
if want equivalence; then  # numerical equivalence of --cuda-graphs: mean validation AUROC, seeds 0-2
    for seed in 0 1 2; do
        step run-chexnet-s$seed $BENCH run --method chexnet --split official --seed $seed --device "$DEVICE" --workers "$WORKERS" --quiet
        step run-chexnet-graphs-s$seed $BENCH run --method chexnet --split official --seed $seed --device "$DEVICE" --workers "$WORKERS" --cuda-graphs --quiet
    done
fi
if want extra; then  # the NCCL process-group path, and the main job on the demo end to end on the GPU
    step run-chexnet-nproc1 $BENCH run --method chexnet --split official --preset smoke --nproc 1 --device "$DEVICE" --workers "$WORKERS"
    step run-wfocal-effb3 $BENCH run --method wfocal-effb3 --split official --device "$DEVICE" --workers "$WORKERS"
fi
epoch_run() {  # epoch_run unfinished|staged: the id of the newest one-epoch weng run if it is
    # not complete; "staged": only once its first stage's epoch is in its record
    "$PYTHON" - "$CXR_BENCH_RESULTS" "$1" <<'EOF'
import json, pathlib, sys
for path in sorted(pathlib.Path(sys.argv[1]).glob("runs/*/record.json"), reverse=True):
    try:
        r = json.loads(path.read_text())
    except ValueError:
        continue
    if r["split"]["protocol"] == "weng" and r["invocation"].get("epochs") == 1:
        staged = any(e["stage"] == 0 for e in r["history"])
        if r["status"] in ("interrupted", "running") and (sys.argv[2] == "unfinished" or staged):
            print(r["run_id"])
        break
EOF
}

if (want full || want epoch) && [[ ! -f "$FULL_DATA/DEMO.json" ]]; then  # no download: NIH's rows rendered here
    step full-data $BENCH data demo --full --out "$FULL_DATA" --size 256 --workers "$WORKERS"
fi
if want epoch; then
    # The image caches at 300 and 600 px need about 51 GB: without the room, the run reads the PNGs.
    CACHE_ROOT=$("$PYTHON" -c 'from bench.config import cache_dir; print(cache_dir())' 2>/dev/null || echo "$HOME")
    mkdir -p "$CACHE_ROOT"
    if (( $(df --output=avail -B1G "$CACHE_ROOT" | tail -n 1) < 55 )) && [[ " $EPOCH_FLAGS " != *" --no-cache "* ]]; then
        echo "== under 55 GB free in $CACHE_ROOT for the image caches: the epoch run reads the PNGs (--no-cache)"
        EPOCH_FLAGS="$EPOCH_FLAGS --no-cache"
    fi
    # A run stopped after its first stage (EPOCH_SPLIT=1) or cut short by STEP_TIMEOUT resumes
    # here, in the next call with PARTS=epoch, from the last epoch it finished.
    resume=$(epoch_run unfinished)
    if [[ -n $resume ]]; then
        step epoch-wfocal-effb3-resumed $BENCH run --resume "$resume" --workers "$WORKERS" --quiet
    else
        # shellcheck disable=SC2086  # EPOCH_FLAGS is a list of options
        step epoch-wfocal-effb3 $BENCH run --method wfocal-effb3 --split weng --data "$FULL_DATA" --preset paper \
            --epochs 1 --no-pretrained --device "$DEVICE" --workers "$WORKERS" --quiet $EPOCH_FLAGS &
        running=$!
        while [[ $EPOCH_SPLIT == 1 ]] && kill -0 "$running" 2>/dev/null; do
            if [[ -n $(epoch_run staged) ]]; then  # SIGINT via timeout: the run stops after its batch
                echo "== stage 1's epoch is recorded: the run stops; PARTS=epoch resumes it with stage 2"
                kill -INT "$(cat "$OUT_DIR/epoch-wfocal-effb3.pid")"
                break
            fi
            sleep 5
        done
        wait "$running"
    fi
fi
if want cpu; then
    grep -o -w -E 'amx_bf16|amx_tile|avx512_bf16|avx512f' /proc/cpuinfo | sort | uniq -c > "$OUT_DIR/cpu-flags.log"
    cat "$OUT_DIR/cpu-flags.log"
    # The demo preset's 64 px, batch 32, as the main job trains; bf16 only where the CPU has it
    # (emulated, it is ten times slower than float32).
    step cpu-wfocal-effb3-fp32 $BENCH perf --method wfocal-effb3 --device cpu --batches 10 --json
    if grep -q -w -E 'amx_bf16|avx512_bf16' "$OUT_DIR/cpu-flags.log"; then
        step cpu-wfocal-effb3-bf16 $BENCH perf --method wfocal-effb3 --device cpu --batches 10 --json --cpu-bf16
    fi
fi

python3 - "$OUT_DIR" <<'EOF'
import json, pathlib, sys
print(f"{'measure':28} {'model':>8} {'cache':>8} {'e2e':>8} {'e2e/model':>9} {'steps/s':>8} {'outside':>8} {'epoch 78,468':>12} {'1st step':>8}")
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.out")):
    try:
        r = json.loads(path.read_text())
    except ValueError:
        continue
    print(f"{path.stem:28} {r['model_only']:8.0f} {r['loader_cache']:8.0f} {r['end_to_end']:8.0f} "
          f"{r['end_to_end_over_model']:9.2f} {r['steps_per_s_model']:8.1f} {r['outside_kernels'] or 0:8.0%} "
          f"{78468 / r['end_to_end']:11.0f}s {r.get('first_step_s') or 0:7.1f}s")
EOF

python3 - "$CXR_BENCH_RESULTS" "$OUT_DIR" <<'EOF'
import json, pathlib, sys
print(f"{'run':60} {'graphs':>6} {'seed':>4} {'img/s':>8} {'best val':>9} {'test':>7}")
records = [json.loads(p.read_text()) for p in sorted(pathlib.Path(sys.argv[1]).glob("runs/*/record.json"))]
for r in records:
    last = r["stages"][-1]
    test = (r.get("metrics") or {}).get("test") or {}
    print(f"{r['run_id'][:60]:60} {str(r['invocation'].get('cuda_graphs')):>6} {r['seed']:4} "
          f"{last.get('train_images_per_s') or 0:8.0f} {last.get('best_val_auroc') or 0:9.4f} {test.get('mean') or 0:7.4f}")
# Real-length epochs: per stage training, and the epoch with its validation pass; the rest of
# the run (start, caches, test passes) from the epoch steps' seconds (a resumed record's start
# and end would count the pause between calls); and what 25 epochs of each stage would take.
from datetime import datetime
steps = [float(p.read_text()) for p in pathlib.Path(sys.argv[2]).glob("epoch-wfocal-effb3*.seconds")]
for r in records:
    if r["split"]["protocol"] != "weng" or r["invocation"].get("epochs") != 1 or r["status"] != "complete":
        continue
    print(f"{r['run_id']} ({'graphs' if r['invocation'].get('cuda_graphs') else 'eager'}, {r['environment']['gpu']}):")
    epochs = 0.0
    for stage in r["stages"]:
        walls = [e["wall_s"] for e in r["history"] if e["stage"] == stage["index"]]
        epochs += sum(walls)
        print(f"  stage {stage['index'] + 1} ({stage['image_size']} px, batch {stage['batch_size']}): training "
              f"{stage['wall_s'] or 0:.0f} s ({stage['train_images_per_s'] or 0:.0f} img/s), with validation {sum(walls):.0f} s")
    total = sum(steps) or (datetime.fromisoformat(r["ended"]) - datetime.fromisoformat(r["started"])).total_seconds()
    print(f"  whole run {total:.0f} s in {len(steps) or 1} call(s), of which outside the epochs {total - epochs:.0f} s")
    print(f"  25 + 25 epochs at this pace: {(25 * epochs + total - epochs) / 3600:.2f} h")
EOF
