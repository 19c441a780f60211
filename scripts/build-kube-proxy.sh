#!/usr/bin/env bash
# Builds the real kube-proxy (k8s.io/kubernetes/cmd/kube-proxy) from the Go module proxy, pinned to the
# Kubernetes version of the lab (lab/versions.env: K8S_VERSION, K8S_STAGING_VERSION), for the services
# benchmark (bench/services.mjs, `make bench-services`). Kept apart from lab/build-upstream.sh so the lab's
# upstream cache key does not change. The binary lands in
#   ${CILIUM_TS_CACHE:-$HOME/.cache/cilium-ts}/kube-proxy/<key>/bin/kube-proxy
# and is reused as-is when present (the fast path runs no Go). The last line printed on stdout is that bin
# dir; build logs go to stderr.
#
# Also installs what kube-proxy execs at run time, once (apt-get only for what is missing):
# iptables (iptables, iptables-save, iptables-restore, ip6tables*), nftables (nft), conntrack.
# KUBE_PROXY_SKIP_DEPS=1 skips that step.
#
# How: the same wrapper-module recipe as lab/build-upstream.sh (k8s.io/kubernetes requires its staging
# modules at v0.0.0 with local replaces, so the wrapper replaces each with the published v0.N.P tag); module
# proxy only (GOPROXY minus `direct`), GOFLAGS=-mod=mod, GOTOOLCHAIN=local, CGO_ENABLED=0, -trimpath, the
# version variables upstream sets. GOMODCACHE/GOCACHE are shared with build-upstream.sh ($CACHE/go/{mod,build}),
# so after the lab's build only kube-proxy's own packages compile. Built in a temp dir and renamed into place;
# concurrent runs are serialised with flock.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lab/versions.env
. "$here/../lab/versions.env"

KUBE_PROXY_BUILD_REV=1
KEY="k8s-${K8S_VERSION}_r${KUBE_PROXY_BUILD_REV}"
CACHE="${CILIUM_TS_CACHE:-$HOME/.cache/cilium-ts}"
ROOT="$CACHE/kube-proxy"
DEST="$ROOT/$KEY"
BIN="$DEST/bin"

log() { echo "build-kube-proxy: $(date -u +%H:%M:%S) $*" >&2; }
fail() {
  echo "build-kube-proxy: $1" >&2
  echo "hint: $2" >&2
  exit 1
}

# --- runtime dependencies (idempotent) -------------------------------------------------------------------
install_runtime_deps() {
  local missing=() pkg cmd
  for pair in iptables:iptables-restore iptables:ip6tables-restore nftables:nft conntrack:conntrack; do
    pkg="${pair%%:*}"
    cmd="${pair#*:}"
    if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then
      case " ${missing[*]} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
    fi
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || fail "missing ${missing[*]} (kube-proxy needs them at run time)" "run as root, or apt-get install ${missing[*]}"
  command -v apt-get >/dev/null 2>&1 || fail "missing ${missing[*]} and no apt-get" "install ${missing[*]} with the system's package manager"
  log "installing ${missing[*]} (apt-get)"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
  fi
}
[ "${KUBE_PROXY_SKIP_DEPS:-0}" = 1 ] || install_runtime_deps

if [ -x "$BIN/kube-proxy" ]; then
  echo "$BIN"
  exit 0
fi

# shellcheck source=lib/go-proxy.sh
. "$here/lib/go-proxy.sh"
go_on_path || fail "'go' is not on PATH" "install Go >= 1.26 (k8s $K8S_VERSION needs it) and re-run"
command -v flock >/dev/null 2>&1 || fail "'flock' is not on PATH" "apt-get install util-linux"
proxy_in="$(go env GOPROXY)"
proxy="$(module_proxy_only)"
[ -n "$proxy" ] || fail "GOPROXY ('$proxy_in') names no module proxy" \
  "set GOPROXY to a module proxy URL (e.g. go env -w GOPROXY=https://proxy.golang.org)"

lock_build_root "$ROOT"
if [ -x "$BIN/kube-proxy" ]; then
  echo "$BIN"
  exit 0
fi

new_build_dir "$ROOT"

export_go_build_env "$proxy" "$CACHE"
P="${UPSTREAM_GO_PARALLEL:-2}"
t0=$SECONDS
log "building kube-proxy $K8S_VERSION with $(go env GOVERSION) via $GOPROXY (-p $P)"

k8s_gomod="$(mod_json "k8s.io/kubernetes@$K8S_VERSION" GoMod)"
[ -f "$k8s_gomod" ] || fail "could not fetch the go.mod of k8s.io/kubernetes@$K8S_VERSION" \
  "check that the module proxy serves it: go list -m -versions k8s.io/kubernetes"
k8s_commit="$(mod_json "k8s.io/kubernetes@$K8S_VERSION" Hash || true)"
staging="$(grep -E '^[[:space:]]+k8s\.io/[a-z0-9-]+ v0\.0\.0$' "$k8s_gomod" | awk '{print $1}')"
[ -n "$staging" ] || fail "found no k8s.io/* v0.0.0 requirements in $k8s_gomod" "the wrapper recipe needs updating"
w="$tmp/src/kube-proxy"
mkdir -p "$w" "$tmp/bin"
(cd "$w" && go mod init cilium-ts.bench/upstream-kube-proxy >/dev/null 2>&1)
edits=(-require="k8s.io/kubernetes@$K8S_VERSION")
for m in $staging; do edits+=(-replace="$m=$m@$K8S_STAGING_VERSION"); done
(cd "$w" && go mod edit "${edits[@]}")
(cd "$w" && go get "k8s.io/kubernetes/cmd/kube-proxy@$K8S_VERSION") >&2
minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
k8s_info="$(mod_json "k8s.io/kubernetes@$K8S_VERSION" Info)"
build_date="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$k8s_info" 2>/dev/null || true)"
[ -n "$build_date" ] || build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
ld="-s -w"
for vp in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld="$ld -X $vp.gitVersion=$K8S_VERSION -X $vp.gitMajor=1 -X $vp.gitMinor=$minor"
  ld="$ld -X $vp.gitTreeState=clean -X $vp.buildDate=$build_date"
  [ -z "$k8s_commit" ] || ld="$ld -X $vp.gitCommit=$k8s_commit"
done
(cd "$w" && go build -p "$P" -trimpath -tags selinux,notest,grpcnotrace -ldflags "$ld" -o "$tmp/bin/kube-proxy" k8s.io/kubernetes/cmd/kube-proxy) >&2
[ -x "$tmp/bin/kube-proxy" ] || fail "the build produced no kube-proxy" "read the go build output above"
{
  echo "key=$KEY"
  echo "go=$(go env GOVERSION)"
  echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "k8s=$K8S_VERSION staging=$K8S_STAGING_VERSION commit=$k8s_commit"
  echo "seconds=$((SECONDS - t0))"
} >"$tmp/BUILDINFO"
rm -rf "$tmp/src"
[ ! -e "$DEST" ] || rm -rf "$DEST"
mv "$tmp" "$DEST"
tmp=""
log "done in $((SECONDS - t0))s"
echo "$BIN"
