#!/bin/bash
# Prior against planning as training goes on, over several training seeds (issue #14's table):
# trains TASK from DEMOS once per seed, keeping the weights at each snapshot (each stage resumes
# the previous one's checkpoint with `--stop-after`, so the snapshots are points on one run, bit
# for bit the run made in one go), then deploys every snapshot through `iqmpc-runtime`
# (Scripts/prior-vs-plan.sh: EPISODES lockstep episodes per mode, the same seeds for both) and,
# with RECOVERY=1, measures reward recovery (Scripts/deployed-recovery.sh). Ends with a markdown
# table: seed, env steps, prior (share of the expert), planning, paired difference, and the
# same for ALT_CAL and the recovery readings when asked. Stages already on disk are skipped, so
# an interrupted study continues where it stopped (an interrupted stage is redone from the
# previous snapshot's checkpoint, OUT/sS/ck-N.safetensors; its metrics lines appear twice).
#
#   Scripts/seed-study.sh TASK DEMOS OUTDIR "SEEDS" "SNAPSHOTS" [iqmpc-train run flags...]
#
# docs/reward-recovery.md §14 (cheetah-run, three seeds to 60,000 steps):
#   Scripts/seed-study.sh cheetah-run demos.iqlog out/study "1 2 3" "5000 10000 20000 45000 60000" \
#     --demo-episodes 10 --preset tiny --seed-steps 2500 --batch 256 --eval-every 2500 \
#     --eval-episodes 2 --plan-samples 256 --plan-iterations 4 --planner-refresh 25 --threads 1
# (DEMOS: `iqmpc-sim record --task cheetah-run --expert --episodes 10 --seed 1 --out demos.iqlog`.)
# SNAPSHOTS must be whole episodes (multiples of the task's episode length): stages stop at
# episode boundaries. The last snapshot is the run's --steps; the others stop early.
#
# Environment: BIN (default .build/release), EPISODES (default 50; seeds 1000...), CAL (the
# calibration to train and deploy with, default Calibration/TASK.yaml), ALT_CAL (a second one to
# deploy with, e.g. another prior_anchor), PARALLEL=1 (train the seeds at once rather than one
# after the other), RECOVERY=1 (also reward recovery; the random-policy record is made once),
# PORT (default 5930; uses PORT..PORT+2).
set -euo pipefail
[ $# -ge 5 ] || { sed -n '2,12p' "$0"; exit 2; }
# Paths given by the caller are resolved before moving to the repository root.
TASK=$1 DEMOS=$(realpath "$2") OUT=$(realpath -m "$3") SEEDS=$4 SNAPS=$5
shift 5
[ -n "${CAL:-}" ] && CAL=$(realpath "$CAL")
[ -n "${ALT_CAL:-}" ] && ALT_CAL=$(realpath "$ALT_CAL")
[ -n "${BIN:-}" ] && BIN=$(realpath "$BIN")
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/release} EPISODES=${EPISODES:-50} PORT=${PORT:-5930}
CAL=${CAL:-Calibration/$TASK.yaml}
mkdir -p "$OUT"
last=0
for n in $SNAPS; do
  [ "$n" -gt "$last" ] || { echo "seed-study: SNAPSHOTS must increase ($n after $last)" >&2; exit 2; }
  last=$n
done

train_seed() { # seed, then the iqmpc-train run flags
  local s=$1 d=$OUT/s$1 prev=0 n
  shift
  mkdir -p "$d"
  for n in $SNAPS; do
    if [ ! -s "$d/w$n.safetensors" ]; then
      # A stage always starts from the previous snapshot's own checkpoint (kept beside its
      # weights), so a stage killed half-way is redone exactly rather than continued from
      # wherever its last checkpoint fell.
      local resume=()
      rm -rf "$d/ck"
      if [ $prev -gt 0 ]; then
        mkdir -p "$d/ck"
        cp "$d/ck-$prev.safetensors" "$d/ck/checkpoint.safetensors"
        resume=(--resume)
      fi
      if ! "$BIN/iqmpc-train" run --demos "$DEMOS" --task "$TASK" --calibration "$CAL" --steps "$last" \
          --stop-after $((n - prev)) --seed "$s" --checkpoint-dir "$d/ck" --metrics "$d/metrics.jsonl" \
          --out "$d/w$n.safetensors" --quiet "${resume[@]}" "$@" >> "$d/train.log" 2>&1; then
        echo "seed-study: seed $s failed on its way to $n env steps ($d/train.log):" >&2
        tail -n 6 "$d/train.log" >&2
        return 1
      fi
      cp "$d/ck/checkpoint.safetensors" "$d/ck-$n.safetensors"
      echo "seed $s: $(grep '^done:' "$d/train.log" | tail -n 1)"
    fi
    prev=$n
  done
}

if [ "${PARALLEL:-0}" = 1 ]; then
  pids=()
  for s in $SEEDS; do train_seed "$s" "$@" & pids+=($!); done
  failed=0
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  [ $failed = 0 ] || { echo "seed-study: a training run failed (see $OUT/s*/train.log)" >&2; exit 1; }
else
  for s in $SEEDS; do train_seed "$s" "$@"; done
fi

if [ "${RECOVERY:-0}" = 1 ] && [ ! -s "$OUT/random.iqlog" ]; then
  "$BIN/iqmpc-sim" record --task "$TASK" --expert --policy random --episodes 5 --seed 101 --out "$OUT/random.iqlog" > /dev/null
fi
for s in $SEEDS; do for n in $SNAPS; do
  d=$OUT/s$s w=$OUT/s$s/w$n.safetensors
  [ -s "$d/deployed-$n.txt" ] || NICE=${NICE:--5} BIN=$BIN Scripts/prior-vs-plan.sh "$TASK" "$w" "$EPISODES" 1000 "$PORT" "$CAL" > "$d/deployed-$n.txt"
  if [ -n "${ALT_CAL:-}" ] && [ ! -s "$d/deployed-$n-alt.txt" ]; then
    NICE=${NICE:--5} BIN=$BIN Scripts/prior-vs-plan.sh "$TASK" "$w" "$EPISODES" 1000 "$PORT" "$ALT_CAL" > "$d/deployed-$n-alt.txt"
  fi
  if [ "${RECOVERY:-0}" = 1 ] && [ ! -s "$d/recovery-$n/recovery.json" ]; then
    LOCKSTEP=0 BIN=$BIN Scripts/deployed-recovery.sh "$w" "$d/recovery-$n" "$TASK" "$DEMOS" "$OUT/random.iqlog" "$PORT" > /dev/null
  fi
done; done

expert=$("$BIN/iqmpc-sim" replay --in "$DEMOS" | sed -n 's/.*mean return \([-0-9.]*\).*/\1/p')
/usr/bin/python3 - "$OUT" "$expert" "$SEEDS" "$SNAPS" <<'PY'
import json, os, re, sys
out, expert, seeds, snaps = sys.argv[1], float(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split()

def modes(path):
    """The means ± s.e. and the paired line prior-vs-plan.sh printed."""
    if not os.path.exists(path):
        return None
    t = open(path).read()
    get = lambda name: re.search(name + r"\s*:\s*([-+0-9.]+) ±\s*([0-9.]+)", t)
    return get(r"prior"), get(r"plan"), get(r"paired plan - prior")

fmt = lambda m: f"{float(m.group(1)):.1f} ± {float(m.group(2)):.1f}" if m else "?"
signed = lambda m: f"{float(m.group(1)):+.1f} ± {float(m.group(2)):.1f}" if m else "?"
alt = any(os.path.exists(f"{out}/s{s}/deployed-{n}-alt.txt") for s in seeds for n in snaps)
rec = any(os.path.exists(f"{out}/s{s}/recovery-{n}/recovery.json") for s in seeds for n in snaps)
head = ["seed", "env steps", "prior (/ expert)", "planning", "paired"]
head += ["planning (ALT_CAL)", "paired"] if alt else []
head += ["recovery: per step / time axis / per episode (ceiling)"] if rec else []
print(f"expert {expert:.1f}")
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for s in seeds:
    for n in snaps:
        m = modes(f"{out}/s{s}/deployed-{n}.txt")
        if not m:
            continue
        prior, plan, paired = m
        row = [s, n, f"{fmt(prior)} ({float(prior.group(1)) / expert:.2f})" if prior else "?", fmt(plan), signed(paired)]
        if alt:
            a = modes(f"{out}/s{s}/deployed-{n}-alt.txt")
            row += [fmt(a[1]), signed(a[2])] if a else ["—", "—"]
        if rec:
            p = f"{out}/s{s}/recovery-{n}/recovery.json"
            if os.path.exists(p):
                r = json.load(open(p))
                row.append(f"{r['step_correlation']:.3f} / {r['within_episode_correlation']:.3f} / "
                           f"{r['episode_correlation']:.3f} ({r['source_only_correlation']:.3f})")
            else:
                row.append("—")
        print("| " + " | ".join(str(x) for x in row) + " |")
PY
