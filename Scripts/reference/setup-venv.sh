#!/usr/bin/env bash
# Creates a Python venv with CPU-only PyTorch, numpy and safetensors for the checkpoint
# converters (Scripts/convert/) and the PyTorch parity tests. Nothing in it is needed to
# build or run the runtime.
#
#   Scripts/reference/setup-venv.sh [VENV_DIR]      (default: $IQMPC_TORCH_VENV or .venv-torch)
#
# Torch comes from the PyTorch CPU wheel index when it answers (no CUDA libraries, ~200 MB);
# otherwise from PyPI, preferring a CPU wheel that pip's configured find-links already holds
# (PyPI's own Linux torch pulls several GB of CUDA libraries).
# Set TORCH_SPEC to pin another requirement (e.g. TORCH_SPEC='torch==2.5.1').
# CPU_ONLY=1 (what CI uses): when neither the CPU index nor a local CPU wheel is available,
# exit 3 instead of pulling PyPI's CUDA build; the torch tests then show as skipped.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${1:-${IQMPC_TORCH_VENV:-.venv-torch}}"
cpu_index="${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"
python3 -m venv "$venv"
pip="$venv/bin/pip"
"$pip" install --quiet numpy safetensors
if "$venv/bin/python" -c 'import torch' 2>/dev/null; then
    echo "setup-venv: torch already in $venv"
elif [ -n "${TORCH_SPEC:-}" ]; then
    "$pip" install --quiet "$TORCH_SPEC"
elif "$pip" install --quiet --timeout 20 --retries 1 --index-url "$cpu_index" torch 2>/dev/null; then
    :
else
    # A local CPU wheel (pip's find-links) wins over PyPI's CUDA build when pinned to its version.
    links="${PIP_FIND_LINKS:-$(pip3 config get global.find-links 2>/dev/null || true)}"
    wheel=$(ls "$links"/torch-*+cpu-*.whl 2>/dev/null | sort -V | tail -1 || true)
    if [ -n "$wheel" ]; then
        version=$(basename "$wheel" | cut -d- -f2)
        "$pip" install --quiet "torch==${version%%+*}.*"
    elif [ "${CPU_ONLY:-0}" = 1 ]; then
        echo "setup-venv: no CPU PyTorch wheel reachable (CPU index or find-links); not installing PyPI's CUDA build" >&2
        exit 3
    else
        "$pip" install --quiet torch
    fi
fi
"$venv/bin/python" -c 'import torch, numpy, safetensors; print("setup-venv: torch", torch.__version__, "in", "'"$venv"'")'
