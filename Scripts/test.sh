#!/usr/bin/env bash
# The README's test command: everything CI checks, in order. Long runs (training to a
# score, soak tests, benchmarks) are separate commands: see README "Benchmarks".
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/check-proto.sh
swift build --build-tests
# Serial: allocation tests read a process-wide malloc counter.
swift test --skip-build --no-parallel
if [ -f Firmware/Makefile ]; then
  make -C Firmware test
fi
