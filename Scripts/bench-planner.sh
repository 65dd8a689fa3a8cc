#!/usr/bin/env bash
# Planner benchmark (not CI): the issue #4 figures for the tiny, small and paper presets at 1
# and 2 threads, from one release build, printed as a markdown table.
#
#   Scripts/bench-planner.sh               # all presets
#   PRESETS="tiny small" Scripts/bench-planner.sh
#   CPU=0 Scripts/bench-planner.sh         # pin the 1-thread runs to one core (taskset)
#
# Every row comes from `iqmpc-runtime bench --json` on weights from `iqmpc-train init
# --nonzero-q`. `efficiency` is achieved GFLOP/s over the machine's sgemm rate on the same
# products in the same run; `packed/blas` is the same-run A/B of the packed kernels against
# OpenBLAS (--compare-kernels, 1-thread rows only). Absolute times depend on machine load:
# note it (uptime is printed) and compare ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
PRESETS=${PRESETS:-"tiny small paper"}
OUT=${OUT:-out/bench-planner}
export OPENBLAS_NUM_THREADS=1
swift build -c release --product iqmpc-runtime >/dev/null
swift build -c release --product iqmpc-train >/dev/null
BIN=$(swift build -c release --show-bin-path)
mkdir -p "$OUT"
PIN=()
if [ -n "${CPU:-}" ]; then PIN=(taskset -c "$CPU"); fi

echo "load: $(uptime)"
echo "| preset (obs/act, N×I) | threads | p50 ms | p99 ms | p99.9/p50 | GFLOP/plan | efficiency | allocs/step | policy prior µs | packed/blas |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for p in $PRESETS; do
  case $p in
    tiny)  D=5;  A=1;  N=256; I=4; S=200 ;;
    small) D=24; A=6;  N=512; I=6; S=30 ;;
    paper) D=91; A=39; N=512; I=8; S=5 ;;
    *) echo "unknown preset $p" >&2; exit 2 ;;
  esac
  w="$OUT/$p.safetensors"
  "$BIN/iqmpc-train" init --preset "$p" --obs-dim $D --act-dim $A --nonzero-q --seed 1 --out "$w" >/dev/null
  for t in 1 2; do
    extra=(); run=("$BIN/iqmpc-runtime")
    if [ "$t" = 1 ]; then extra=(--compare-kernels); run=("${PIN[@]}" "$BIN/iqmpc-runtime"); fi
    line=$("${run[@]}" bench --weights "$w" --samples $N --iterations $I --threads $t --steps $S --json "${extra[@]}")
    echo "$line" > "$OUT/$p-$t.json"
    echo "$line" | /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)
ab = "%.2fx" % r["ab_speedup"] if "ab_speedup" in r else "-"
print("| %s (%d/%d, %d×%d) | %d | %.1f | %.1f | %.2f | %.3f | %.2f | %g | %.1f | %s |" % (
    sys.argv[1], r["obs_dim"], r["act_dim"], r["samples"], r["iterations"], r["threads"],
    r["p50_us"] / 1e3, r["p99_us"] / 1e3, r["p999_us"] / r["p50_us"], r["gflop_per_plan"],
    r["efficiency"], r["allocations_per_step"], r["policy_prior_us"], ab))' "$p"
  done
done
