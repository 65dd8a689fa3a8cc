#!/usr/bin/env bash
# Installs the system packages iqmpc needs on Debian 12 (non-interactive, idempotent).
set -euo pipefail
pkgs=(libzmq3-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libopenblas-dev
      libmujoco-dev libcmocka-dev pkg-config make gcc python3-numpy python3-protobuf python3-zmq)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
