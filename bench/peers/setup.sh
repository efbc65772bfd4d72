#!/usr/bin/env bash
# Creates bench/peers/.venv with pinned, prebuilt (wheel-only) versions of the open CKKS libraries
# that install from PyPI on this machine's Python 3.11. Nothing is compiled from source: a library
# without a cp311 wheel is skipped with a note instead.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"

# Pinned versions (checked with `pip index versions` / `pip download --no-deps --only-binary=:all:`).
TENSEAL_VERSION=0.3.18      # Microsoft SEAL 4.x underneath, cp311 manylinux wheel
DESILOFHE_VERSION=2.0.0     # DESILO FHE, cp311 manylinux_2_34 wheel (CPU mode)
SEAL_PYTHON_VERSION=4.4.0   # raw SEAL bindings, cp311 wheel (used only for SEAL's hoisting-free checks)
NUMPY_SPEC="numpy>=1.24,<3"
PSUTIL_SPEC="psutil>=5.9"

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
"${pip[@]}" install --only-binary=:all: "$NUMPY_SPEC" "$PSUTIL_SPEC"
"${pip[@]}" install --only-binary=:all: "tenseal==$TENSEAL_VERSION"
"${pip[@]}" install --only-binary=:all: "desilofhe==$DESILOFHE_VERSION"
if ! "${pip[@]}" install --only-binary=:all: "seal-python==$SEAL_PYTHON_VERSION"; then
    echo "note: seal-python $SEAL_PYTHON_VERSION has no usable wheel here; skipped" >&2
fi

# OpenFHE: its PyPI wheels carry an extension built for one CPython version (cpython-310 or
# -312 inside a py3-none-any wheel); none is built for 3.11, so it cannot import here.
if [[ "$("$venv/bin/python" -c 'import sys; print(sys.version_info[:2] == (3, 10) or sys.version_info[:2] == (3, 12))')" == True ]]; then
    "${pip[@]}" install "openfhe==1.6.1.0.22.4" || echo "note: openfhe install failed; skipped" >&2
else
    echo "note: openfhe skipped: its PyPI wheels target CPython 3.10/3.12, this venv is $("$venv/bin/python" -V)" >&2
fi

"$venv/bin/python" - <<'PY'
import importlib
for name in ("tenseal", "desilofhe", "seal", "openfhe"):
    try:
        mod = importlib.import_module(name)
        print(f"{name}: ok {getattr(mod, '__version__', '')}")
    except Exception as err:  # report and continue: peers.py skips what is missing
        print(f"{name}: unavailable ({type(err).__name__}: {err})")
PY
