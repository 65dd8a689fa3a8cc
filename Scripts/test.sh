#!/usr/bin/env bash
# The README's test command: everything CI checks, in order. Long runs (training to a
# score, soak tests, benchmarks) are separate commands: see README "Benchmarks".
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/check-proto.sh
swift build --build-tests
# Serial: allocation tests read a process-wide malloc counter.
swift test --skip-build --no-parallel
# Firmware: C unit tests, the same under ASan+UBSan, then the cross-language end-to-end run
# (C robot example against the Swift runtime over loopback TCP, >= 1000 steps).
make -C Firmware test
make -C Firmware sanitize
make -C Firmware e2e
# Fuzzing, briefly: 4 harnesses x 10 s (Scripts/fuzz.sh SECONDS runs each longer). Its first
# build compiles the parsers' modules again with sanitizers, in .build/fuzz.
Scripts/fuzz.sh 10
