#!/usr/bin/env bash
# Builds the upstream Go tools the tests and benchmarks drive our stack with:
#   cnitool                    (github.com/containernetworking/cni, the reference CNI client)
#   ptp, bridge, loopback,
#   host-local                 (github.com/containernetworking/plugins, the reference plugins: B6's peer)
# Source comes from the Go module proxy only (no VCS fetch): GOPROXY as configured on the machine with any
# `direct` entry removed, GOFLAGS=-mod=mod. Versions are pinned below. The binaries land in
#   ${CILIUM_TS_CACHE:-$HOME/.cache/cilium-ts}/go-tools/<version>/bin
# which is reused when every binary is already there. The last line printed is that bin dir.
set -euo pipefail

CNI_VERSION=v1.3.0
PLUGINS_VERSION=v1.9.1
VERSION="cni-${CNI_VERSION}_plugins-${PLUGINS_VERSION}"

CACHE="${CILIUM_TS_CACHE:-$HOME/.cache/cilium-ts}"
BIN="$CACHE/go-tools/$VERSION/bin"
TOOLS=(cnitool ptp bridge loopback host-local)

have_all() {
  local t
  for t in "${TOOLS[@]}"; do [ -x "$BIN/$t" ] || return 1; done
}

if have_all; then
  echo "$BIN"
  exit 0
fi

# shellcheck source=lib/go-proxy.sh
. "$(dirname "$0")/lib/go-proxy.sh"
if ! go_on_path; then
  echo "build-go-tools: 'go' is not on PATH" >&2
  echo "hint: install Go >= 1.24 (plugins $PLUGINS_VERSION need it) and re-run" >&2
  exit 1
fi

proxy_in="$(go env GOPROXY)"
proxy="$(module_proxy_only)"
if [ -z "$proxy" ]; then
  echo "build-go-tools: GOPROXY ('$proxy_in') names no module proxy" >&2
  echo "hint: set GOPROXY to a module proxy URL (e.g. go env -w GOPROXY=https://proxy.golang.org)" >&2
  exit 1
fi

mkdir -p "$CACHE/go-tools"
tmp="$(mktemp -d "$CACHE/go-tools/.build-XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

export GOPROXY="$proxy" GOFLAGS=-mod=mod GOBIN="$tmp" CGO_ENABLED=0 GOTOOLCHAIN=local
echo "build-go-tools: building cnitool@$CNI_VERSION and plugins@$PLUGINS_VERSION via $GOPROXY" >&2
(
  cd "$tmp"
  go install "github.com/containernetworking/cni/cnitool@$CNI_VERSION"
  go install \
    "github.com/containernetworking/plugins/plugins/main/ptp@$PLUGINS_VERSION" \
    "github.com/containernetworking/plugins/plugins/main/bridge@$PLUGINS_VERSION" \
    "github.com/containernetworking/plugins/plugins/main/loopback@$PLUGINS_VERSION" \
    "github.com/containernetworking/plugins/plugins/ipam/host-local@$PLUGINS_VERSION"
) >&2

mkdir -p "$BIN"
for t in "${TOOLS[@]}"; do
  if [ ! -x "$tmp/$t" ]; then
    echo "build-go-tools: go install produced no '$t'" >&2
    exit 1
  fi
  mv -f "$tmp/$t" "$BIN/$t"
done
echo "$BIN"
