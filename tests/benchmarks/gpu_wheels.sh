#!/usr/bin/env bash
# Fetches into .whl/ (git-ignored) the wheels of the runtime dependencies that a GPU machine
# without internet access may lack, for its Python (PY_VERSION, default 3.12) on x86-64, at the
# versions installed here; gpu_figures.sh installs whatever it finds there before it starts:
#   bash tests/benchmarks/gpu_wheels.sh            # from the repository root, with the venv built
# PACKAGES overrides the list. Without torchxrayvision there is no labels file, so no demo;
# without platformdirs `bench` does not start. All three are pure Python (about 29 MB together,
# nearly all of it torchxrayvision's bundled label files).
set -eu
PY=${PY:-.venv/bin/python}
PY_VERSION=${PY_VERSION:-3.12}
PACKAGES=${PACKAGES:-platformdirs torchxrayvision scikit-posthocs}
# shellcheck disable=SC2086  # PACKAGES is a list
pins=$("$PY" - $PACKAGES <<'EOF'
import importlib.metadata as md, sys
print(" ".join(f"{name}=={md.version(name)}" for name in sys.argv[1:]))
EOF
)
mkdir -p .whl
# shellcheck disable=SC2086  # pins is a list
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PY_VERSION" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl $pins
ls -l .whl
