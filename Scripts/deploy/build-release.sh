#!/usr/bin/env bash
# Release build of iqmpc-runtime for a robot computer: the Swift standard library and
# Foundation are linked statically, so the robot needs no Swift toolchain, only the
# system libraries listed by runtime-libs.sh. Output: dist/iqmpc-runtime-<arch>/ with the
# binary, the systemd unit, the calibration files and BUILD-INFO.
#
#   Scripts/deploy/build-release.sh [output-dir]
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-dist/iqmpc-runtime-$(uname -m)}"

swift build -c release --static-swift-stdlib --product iqmpc-runtime
bin="$(swift build -c release --static-swift-stdlib --product iqmpc-runtime --show-bin-path)/iqmpc-runtime"

mkdir -p "$out/bin" "$out/calibration" "$out/systemd"
cp "$bin" "$out/bin/iqmpc-runtime"
cp Calibration/*.yaml "$out/calibration/"
cp Scripts/deploy/iqmpc-runtime@.service "$out/systemd/"
cp Scripts/deploy/runtime-libs.sh Scripts/deploy/README.md "$out/"
{
    echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (modified)')"
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -srm)"
    echo "swift: $(swift --version 2>&1 | head -1)"
    "$out/bin/iqmpc-runtime" version
} > "$out/BUILD-INFO"

# The binary must not need the Swift runtime libraries (they are linked in).
if ldd "$out/bin/iqmpc-runtime" | grep -Eq 'libswift|libFoundation|lib_Foundation|libdispatch'; then
    echo "error: the binary still links Swift runtime libraries dynamically:" >&2
    ldd "$out/bin/iqmpc-runtime" | grep -E 'swift|Foundation|dispatch' >&2
    exit 1
fi
echo "built $out/bin/iqmpc-runtime ($(du -h "$out/bin/iqmpc-runtime" | cut -f1)); run-time libraries:"
"$out/runtime-libs.sh" "$out/bin/iqmpc-runtime"
