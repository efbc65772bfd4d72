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
SEAL_PYTHON_VERSION=4.4.0   # SEAL bindings exposing every step (relin, rescale, rotate): the main SEAL column
NUMPY_VERSION=2.4.6

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
"${pip[@]}" install --only-binary=:all: "numpy==$NUMPY_VERSION"
"${pip[@]}" install --only-binary=:all: "tenseal==$TENSEAL_VERSION"
"${pip[@]}" install --only-binary=:all: "desilofhe==$DESILOFHE_VERSION"
if ! "${pip[@]}" install --only-binary=:all: "seal-python==$SEAL_PYTHON_VERSION"; then
    echo "note: seal-python $SEAL_PYTHON_VERSION has no usable wheel here; skipped" >&2
fi

# OpenFHE is not installed: its PyPI wheels (openfhe <= 1.6.1) carry an extension built for one
# CPython version (cpython-310 or -312 inside a py3-none-any wheel); none imports on 3.11.
echo "note: openfhe skipped: its PyPI wheels target CPython 3.10/3.12, this venv is $("$venv/bin/python" -V)" >&2

"$venv/bin/python" - <<'PY'
import importlib
from importlib.metadata import version
for name, dist in (("seal", "seal-python"), ("tenseal", "tenseal"), ("desilofhe", "desilofhe")):
    try:
        importlib.import_module(name)
        print(f"{name}: ok ({dist} {version(dist)})")
    except Exception as err:  # report and continue: peers.py skips what is missing
        print(f"{name}: unavailable ({type(err).__name__}: {err})")
PY
