#!/usr/bin/env bash
# Create .venv in the repository root and install the package with its test tools.
# llama-cpp-python compiles from source the first time, which took about 20 minutes on
# 2 busy cores. pip caches the built wheel, so later runs of this script take seconds.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# Skipping llama.cpp's multimodal tools shortens the compile; the optimizer does not use them.
CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}" .venv/bin/python -m pip install --quiet -e ".[dev]"
.venv/bin/python -c "import agent, llama_cpp, open_clip, sentence_transformers; print('agent', agent.__version__, 'is installed in .venv')"
