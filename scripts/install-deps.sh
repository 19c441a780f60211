#!/usr/bin/env bash
# Installs the Debian packages the build, the tests and the demo need. Idempotent: apt runs only when
# something is missing.
set -euo pipefail
pkgs=(clang llvm libbpf-dev bpftool iproute2 iputils-ping gcc make libelf-dev zlib1g-dev pkg-config protobuf-compiler openssl util-linux curl iptables nftables)
if [ "${1:-}" = "--bench" ]; then pkgs+=(iperf3 sockperf); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
