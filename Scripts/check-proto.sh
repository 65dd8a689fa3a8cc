#!/usr/bin/env bash
# Fails when the committed protobuf-c code differs from a fresh generation from Proto/.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
Scripts/gen-proto.sh "$tmp"
diff -u Sources/IQProto/iqmpc.pb-c.c "$tmp/iqmpc.pb-c.c"
diff -u Sources/IQProto/include/iqmpc.pb-c.h "$tmp/include/iqmpc.pb-c.h"
echo "protobuf-c code matches Proto/iqmpc.proto"
