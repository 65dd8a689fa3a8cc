#!/usr/bin/env bash
# Lists the shared libraries iqmpc-runtime loads at run time and the Debian packages that
# provide them, and fails if one is missing on this computer. Run it on the robot:
#
#   ./runtime-libs.sh [path/to/iqmpc-runtime]
#
# Expected on Debian 12 (bookworm): libzmq5, libprotobuf-c1, libopenblas0 (any flavour:
# -pthread, -openmp or -serial), plus libc6, libstdc++6, libgcc-s1 and libzmq's own
# dependencies (libsodium23, libpgm-5.3-0, libnorm1, libgssapi-krb5-2, libbsd0, libmd0).
# Install them with:
#   apt-get install libzmq5 libprotobuf-c1 libopenblas0
set -euo pipefail
bin="${1:-$(dirname "$0")/bin/iqmpc-runtime}"
missing=$(ldd "$bin" | grep 'not found' || true)
ldd "$bin" | awk '/=>/ { print $1, $3 }' | while read -r lib path; do
    real=$(readlink -f "$path" 2>/dev/null || echo "$path")
    pkg=$(dpkg -S "$real" 2>/dev/null | head -1 | cut -d: -f1 || true)
    [ -z "$pkg" ] && pkg=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1 || true)
    printf '  %-28s %-10s %s\n' "$lib" "${pkg:-?}" "$real"
done
if [ -n "$missing" ]; then
    echo "missing libraries:" >&2
    echo "$missing" >&2
    echo "install: apt-get install libzmq5 libprotobuf-c1 libopenblas0" >&2
    exit 1
fi
