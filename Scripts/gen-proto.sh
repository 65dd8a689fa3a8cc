#!/usr/bin/env bash
# Regenerates the committed protobuf-c code from Proto/iqmpc.proto.
# Usage: Scripts/gen-proto.sh [OUTDIR]   (default: Sources/IQProto, the committed location)
# Scripts/check-proto.sh uses OUTDIR to compare a fresh generation with the committed files.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-Sources/IQProto}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
protoc-c --c_out="$tmp" -IProto Proto/iqmpc.proto
mkdir -p "$out/include"
cp "$tmp/iqmpc.pb-c.c" "$out/iqmpc.pb-c.c"
cp "$tmp/iqmpc.pb-c.h" "$out/include/iqmpc.pb-c.h"
