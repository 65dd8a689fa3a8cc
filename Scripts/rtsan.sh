#!/usr/bin/env bash
# RealtimeSanitizer (clang's -fsanitize=realtime runtime, shipped with the Swift toolchain) on
# the runtime's control step. Not part of the default test suite (~1 min after the build).
#
# Usage: Scripts/rtsan.sh [STEPS]     (default 3000 free-running steps; FREE=0: lockstep)
#
# How: Swift code is not instrumented by RTSan, so the runtime marks its real-time sections
# itself (CRealtimeSanitizer: the control step from the frame's arrival to its answer sent, and
# each planner job on a worker); the marks are no-ops unless the RTSan runtime is linked. This
# script relinks the debug build's iqmpc-runtime objects with the RTSan runtime (the same link
# command SwiftPM ran, plus the archive), serves iqmpc-sim over loopback TCP with it, and prints
# RTSan's reports: every call inside a section that may block or allocate (libc interceptors:
# mutexes, sleeping and I/O system calls; heap calls through the allocation counter), one report
# per distinct stack (halt_on_error=false), then a count per intercepted function.
# Exit status 0 when every report is a known one (libzmq's send path, the worker spin-wait) and
# there is at least one (the positive control: RTSan is linked and the sections are marked).
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-3000}
FREE=${FREE:-1}
TOOLBIN=$(dirname "$(readlink -f "$(command -v swift)")")
RTLIB=$(ls "$TOOLBIN"/../lib/clang/*/lib/linux/libclang_rt.rtsan-x86_64.a 2>/dev/null | head -1)
[ -n "$RTLIB" ] || { echo "rtsan: no libclang_rt.rtsan-x86_64.a in this Swift toolchain"; exit 2; }
OUT=${OUT:-$(mktemp -d /tmp/iqmpc-rtsan.XXXXXX)}
mkdir -p "$OUT"

swift build --product iqmpc-sim 2>&1 | tail -1
swift build --product iqmpc-train 2>&1 | tail -1
BIN=$(swift build --show-bin-path)
# Have SwiftPM link iqmpc-runtime again and capture that command.
rm -f "$BIN/iqmpc-runtime"
LINK=$(swift build --product iqmpc-runtime -v 2>&1 | grep -E -- "-o [^ ]*/iqmpc-runtime( |$)" | tail -1)
[ -n "$LINK" ] || { echo "rtsan: could not capture the link command of iqmpc-runtime"; exit 2; }
LINK=${LINK/-o $BIN\/iqmpc-runtime/-o $OUT/iqmpc-runtime-rtsan}
eval "$LINK -Xlinker --whole-archive -Xlinker $RTLIB -Xlinker --no-whole-archive -Xlinker -ldl -Xlinker -lrt"
echo "rtsan: linked $OUT/iqmpc-runtime-rtsan with $(basename "$RTLIB")"

"$BIN/iqmpc-train" init --obs-dim 3 --act-dim 1 --preset tiny --nonzero-q --seed 1 --out "$OUT/w.safetensors" >/dev/null
BASE=$((20000 + RANDOM % 20000))
OBS="tcp://127.0.0.1:$BASE" ACT="tcp://127.0.0.1:$((BASE + 1))"
sed -e "s/  samples: 64 /  samples: 16 /" -e "s/  iterations: 3 /  iterations: 1 /" -e "s/  threads: 1 /  threads: 2 /" \
    Calibration/pendulum-swingup.yaml > "$OUT/cal.yaml"
if [ "$FREE" = 1 ]; then
  "$BIN/iqmpc-sim" serve --task pendulum-swingup --mode realtime --period-ms 2 --endpoint "$OBS" \
    --action-endpoint "$ACT" --episodes 0 >"$OUT/sim.out" 2>&1 &
  MODE=(--mode free-running --observation-endpoint "$OBS" --action-endpoint "$ACT")
else
  "$BIN/iqmpc-sim" serve --task pendulum-swingup --mode lockstep --endpoint "$OBS" --episodes 0 >"$OUT/sim.out" 2>&1 &
  MODE=(--mode lockstep --observation-endpoint "$OBS")
fi
SIM=$!
trap 'kill $SIM 2>/dev/null || true' EXIT
PATH="$TOOLBIN:$PATH" RTSAN_OPTIONS=halt_on_error=false:print_stats_on_exit=true \
  "$OUT/iqmpc-runtime-rtsan" run --weights "$OUT/w.safetensors" --calibration "$OUT/cal.yaml" \
  --allow-calibration-mismatch "${MODE[@]}" --telemetry-endpoint none --steps "$STEPS" \
  >"$OUT/runtime.out" 2>"$OUT/runtime.err" || true
kill $SIM 2>/dev/null || true; wait $SIM 2>/dev/null || true; trap - EXIT

grep -E "steps answered|heap allocations in control steps" "$OUT/runtime.out" || true
echo "rtsan: $(grep -c 'Real-time violation\|RealtimeSanitizer: ' "$OUT/runtime.err" || true) report(s); full output in $OUT/runtime.err"
grep -E "^ *(Intercepted|Total|Unique)" "$OUT/runtime.err" | tail -20 || true
# Judge each distinct report by its first frame outside RTSan: inside libzmq (the send's
# signalling to its I/O thread, and its one-time queue growth in lockstep) and the planner's
# spin-wait yield (WorkerPool.run) are the known ones; anything else is a new finding.
# Zero reports would mean the sections are not marked or RTSan is not linked: also a failure.
python3 - "$OUT/runtime.err" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
blocks = text.split("ERROR: RealtimeSanitizer")[1:]
known, unknown = {}, []
for b in blocks:
    frames = re.findall(r"^\s*#(\d+) 0x[0-9a-f]+ (?:in (\S+) )?(.*)$", b, re.M)
    call = re.search(r"in (\w+) \S*rtsan", b)
    call = call.group(1) if call else "?"
    where = next((f for f in frames if "rtsan" not in f[2] and "iq_alloc_counter.c" not in f[2]), None)
    site = (where[1] or "") + " " + where[2] if where else "?"
    if "libzmq.so" in site: key = f"{call} inside libzmq"
    elif "WorkerPool.swift" in site and call == "sched_yield": key = "sched_yield in WorkerPool.run (spin-wait for the workers)"
    else: unknown.append(f"{call} at {site.strip()[:160]}"); continue
    known[key] = known.get(key, 0) + 1
for k, n in sorted(known.items()): print(f"  known: {k} ({n} distinct stack{'s' if n > 1 else ''})")
for u in unknown: print(f"  NEW:   {u}")
if not blocks: print("rtsan: FAIL: no report at all (sections not marked, or RTSan not linked)"); sys.exit(1)
if unknown: print("rtsan: FAIL: calls outside libzmq and the worker spin-wait"); sys.exit(1)
print("rtsan: PASS: the runtime's own code (decode, validate, plan, encode) calls nothing RTSan flags")
PY
