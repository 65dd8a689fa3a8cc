#!/usr/bin/env bash
# libFuzzer harnesses (Fuzz/): each is built with the Swift toolchain's clang
# (-fsanitize=fuzzer,address) and run for SECONDS (default 20) from its committed seed corpus
# (Fuzz/corpus/<name>, read-only; new inputs go to a temporary directory). A crash leaves its
# input in Fuzz/crashes/ (commit it to Fuzz/corpus/<name>/ as a regression input once fixed).
# Usage: Scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-20}
CLANG=${CLANG:-$(dirname "$(command -v swift)")/clang}
BUILD=.build/fuzz
mkdir -p "$BUILD" Fuzz/crashes
PROTO=Sources/IQProto
CFLAGS="-g -O1 -fsanitize=fuzzer,address -fno-omit-frame-pointer -I$PROTO/include $(pkg-config --cflags libprotobuf-c)"
LIBS="$(pkg-config --libs libprotobuf-c)"

# (gold prints harmless "cannot export local symbol __asan_*" warnings: kept in the build log)
"$CLANG" $CFLAGS -o "$BUILD/frame_decoder_fuzz" Fuzz/frame_decoder_fuzz.c "$PROTO/iqmpc.pb-c.c" "$PROTO/iqmpc_arena.c" $LIBS \
  > "$BUILD/build.log" 2>&1 || { cat "$BUILD/build.log"; exit 1; }

status=0
for name in frame_decoder; do
  work=$(mktemp -d)
  echo "fuzz: $name for ${SECONDS_EACH}s"
  if ! "$BUILD/${name}_fuzz" -max_total_time="$SECONDS_EACH" -max_len=65536 -artifact_prefix=Fuzz/crashes/ \
       -print_final_stats=1 "$work" "Fuzz/corpus/$name" > "$BUILD/$name.log" 2>&1; then
    echo "fuzz: $name FAILED (see $BUILD/$name.log and Fuzz/crashes/)"; tail -30 "$BUILD/$name.log"; status=1
  else
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$BUILD/$name.log" | tr '\n' ' '; echo
  fi
  rm -rf "$work"
done
exit $status
