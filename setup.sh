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
# Debian packages: cmake (llama-server's build) always; Chromium for the browser tests (--dev).
apt_install() {
    command -v apt-get >/dev/null && [ "$(id -u)" = 0 ] || return 0
    apt-get install -y -qq "$@" >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq "$@" >/dev/null; }
}
# llama-server: the engine `weighbridge serve` runs per local model so that concurrent requests
# are decoded together. Built once from the llama.cpp sources vendored in the llama-cpp-python
# sdist, so the engine and the in-process path share one llama.cpp; cached per version.
build_llama_server() {
    local version cache work src gpu=""
    version=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))')
    cache="${XDG_CACHE_HOME:-$HOME/.cache}/weighbridge/llama-server-$version-$(uname -m)"
    if [ ! -x "$cache/llama-server" ]; then
        command -v cmake >/dev/null || apt_install cmake
        if ! command -v cmake >/dev/null; then
            echo "setup: cmake not found: llama-server not built (serve runs local models in-process)" >&2
            return
        fi
        echo "setup: building llama-server from llama.cpp $version (several minutes, once)" >&2
        work=$(mktemp -d)
        .venv/bin/python -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$version" -d "$work"
        tar xzf "$work"/llama_cpp_python-*.tar.gz -C "$work"
        src=$(echo "$work"/llama_cpp_python-*/vendor/llama.cpp)
        if command -v nvcc >/dev/null; then gpu="-DGGML_CUDA=ON"; fi
        cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
            -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_TESTS=OFF \
            -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
            -DLLAMA_OPENSSL=OFF $gpu >"$work/cmake.log" 2>&1 \
            && cmake --build "$work/build" --target llama-server -j "$(nproc)" >>"$work/cmake.log" 2>&1 \
            || { tail -20 "$work/cmake.log" >&2; echo "setup: llama-server build failed" >&2; exit 1; }
        mkdir -p "$cache"
        cp "$work/build/bin/llama-server" "$cache/llama-server"
        rm -rf "$work"
    fi
    ln -sf "$cache/llama-server" .venv/bin/llama-server
}
build_llama_server

if [ -n "$extras" ] && ! command -v chromium >/dev/null; then
    echo "setup: installing Chromium for the browser tests (Debian package)" >&2
    apt_install chromium chromium-driver
fi

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
