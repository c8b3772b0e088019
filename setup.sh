#!/usr/bin/env bash
# Installs weighbridge into ./.venv with everything it needs; --dev adds the test tools
# (Python packages, and promptfoo from npm into tests/tools).
# Safe to run again: a second run installs nothing new. llama-cpp-python has no wheels on
# PyPI, so the first run compiles it (about 8 minutes on 2 cores); pip caches the wheel.
set -euo pipefail
cd "$(dirname "$0")"

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "weighbridge needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
    exit 1
fi

extras=""
if [ "${1:-}" = "--dev" ]; then
    extras="[dev]"
fi

if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if ! .venv/bin/python -c 'import llama_cpp' 2>/dev/null; then
    echo "setup: installing llama-cpp-python (compiles llama.cpp the first time: several minutes)" >&2
fi
.venv/bin/python -m pip install --quiet --editable ".${extras}" 2> >(grep -v "is ignored: it is neither" >&2)
if [ -n "$extras" ]; then
    # promptfoo, which the tests drive against the gateway as users run it (from npm).
    if ! command -v npm >/dev/null; then
        echo "setup: npm not found: the promptfoo tests need Node.js 20.20+ and npm" >&2
    elif [ ! -x tests/tools/node_modules/.bin/promptfoo ]; then
        echo "setup: installing promptfoo for the tests (npm)" >&2
        npm ci --prefix tests/tools --no-audit --no-fund --silent
    fi
fi
echo "setup: ready (.venv)" >&2
