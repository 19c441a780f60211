#!/usr/bin/env bash
# Builds the upstream binaries the lab runs, from the Go module proxy only (no other downloads):
#   kube-apiserver kube-controller-manager kube-scheduler kubectl   (k8s.io/kubernetes)
#   etcd etcdctl                                                    (go.etcd.io/etcd/{server,etcdctl}/v3)
#   helm                                                            (helm.sh/helm/v3/cmd/helm)
#   coredns                                                         (github.com/coredns/coredns)
# Versions are pinned in lab/versions.env. The binaries land in
#   ${CILIUM_TS_CACHE:-$HOME/.cache/cilium-ts}/upstream/<key>/bin
# (<key> names every version), which is reused as-is when every binary is there (the fast path runs no Go at
# all). The last line printed on stdout is that bin dir; build logs go to stderr.
#
# How: one throw-away wrapper module per component is generated inside the cache (never in the repo):
# k8s.io/kubernetes requires its staging modules at v0.0.0 and resolves them with local replaces, which a
# dependent module ignores, so the k8s wrapper replaces each of them with the published v0.N.P tag. Module
# proxy only (GOPROXY from the machine minus `direct`), GOFLAGS=-mod=mod, GOTOOLCHAIN=local, CGO_ENABLED=0,
# -trimpath, -ldflags "-s -w" plus the version variables upstream's own builds set. GOMODCACHE and GOCACHE
# live under the same cache root ($CACHE/go/{mod,build}) so a later rebuild (a version bump) is warm.
# Everything is built in $CACHE/upstream/.build-* and renamed into place at the end: an interrupted build
# never leaves a half set. Concurrent runs are serialised with flock.
#
# Environment: CILIUM_TS_CACHE (cache root), UPSTREAM_GO_PARALLEL (go build -p, default 2).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"

KEY="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_helm-${HELM_VERSION}_coredns-${COREDNS_VERSION}_r${UPSTREAM_BUILD_REV}"
CACHE="${CILIUM_TS_CACHE:-$HOME/.cache/cilium-ts}"
ROOT="$CACHE/upstream"
DEST="$ROOT/$KEY"
BIN="$DEST/bin"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd etcdctl helm coredns)

have_all() {
  local b
  for b in "${BINARIES[@]}"; do [ -x "$BIN/$b" ] || return 1; done
}

if have_all; then
  echo "$BIN"
  exit 0
fi

log() { echo "build-upstream: $(date -u +%H:%M:%S) $*" >&2; }
fail() {
  echo "build-upstream: $1" >&2
  echo "hint: $2" >&2
  exit 1
}

# shellcheck source=../scripts/lib/go-proxy.sh
. "$(dirname "$0")/../scripts/lib/go-proxy.sh"
go_on_path || fail "'go' is not on PATH" "install Go >= 1.26 (k8s $K8S_VERSION needs it) and re-run"
command -v flock >/dev/null 2>&1 || fail "'flock' is not on PATH" "apt-get install util-linux"

proxy_in="$(go env GOPROXY)"
proxy="$(module_proxy_only)"
[ -n "$proxy" ] || fail "GOPROXY ('$proxy_in') names no module proxy" \
  "set GOPROXY to a module proxy URL (e.g. go env -w GOPROXY=https://proxy.golang.org)"

lock_build_root "$ROOT"
if have_all; then # built by the run we waited for
  echo "$BIN"
  exit 0
fi

new_build_dir "$ROOT"

export_go_build_env "$proxy" "$CACHE"
P="${UPSTREAM_GO_PARALLEL:-2}"
out="$tmp/bin"
mkdir -p "$out" "$tmp/src"
log "building $KEY with $(go env GOVERSION) via $GOPROXY (-p $P)"
log "GOMODCACHE=$GOMODCACHE GOCACHE=$GOCACHE"

# new_wrapper NAME: a fresh module directory $tmp/src/NAME; prints its path.
new_wrapper() {
  local d="$tmp/src/$1"
  mkdir -p "$d"
  (cd "$d" && go mod init "cilium-ts.lab/upstream-$1" >/dev/null 2>&1)
  echo "$d"
}
timings=()
step_start() { step_t0=$SECONDS; log "== $1"; }
step_end() { timings+=("$1=$((SECONDS - step_t0))s"); log "== $1 done in $((SECONDS - step_t0))s"; }

# --- Kubernetes -----------------------------------------------------------------------------------------
step_start "kubernetes $K8S_VERSION (staging $K8S_STAGING_VERSION)"
k8s_gomod="$(mod_json "k8s.io/kubernetes@$K8S_VERSION" GoMod)"
[ -f "$k8s_gomod" ] || fail "could not fetch the go.mod of k8s.io/kubernetes@$K8S_VERSION" \
  "check that the module proxy serves it: go list -m -versions k8s.io/kubernetes"
k8s_commit="$(mod_json "k8s.io/kubernetes@$K8S_VERSION" Hash || true)"
staging="$(grep -E '^[[:space:]]+k8s\.io/[a-z0-9-]+ v0\.0\.0$' "$k8s_gomod" | awk '{print $1}')"
[ -n "$staging" ] || fail "found no k8s.io/* v0.0.0 requirements in $k8s_gomod" "the wrapper recipe needs updating"
w="$(new_wrapper k8s)"
edits=(-require="k8s.io/kubernetes@$K8S_VERSION")
for m in $staging; do edits+=(-replace="$m=$m@$K8S_STAGING_VERSION"); done
(cd "$w" && go mod edit "${edits[@]}")
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
pkgs=()
for c in "${K8S_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
gets=()
for p in "${pkgs[@]}"; do gets+=("$p@$K8S_VERSION"); done
(cd "$w" && go get "${gets[@]}") >&2
minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
# buildDate: the release's publication time as the proxy reports it (reproducible), else now.
k8s_info="$(mod_json "k8s.io/kubernetes@$K8S_VERSION" Info)"
build_date="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$k8s_info" 2>/dev/null || true)"
[ -n "$build_date" ] || build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
ld="-s -w"
for vp in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld="$ld -X $vp.gitVersion=$K8S_VERSION -X $vp.gitMajor=1 -X $vp.gitMinor=$minor"
  ld="$ld -X $vp.gitTreeState=clean -X $vp.buildDate=$build_date"
  [ -z "$k8s_commit" ] || ld="$ld -X $vp.gitCommit=$k8s_commit"
done
# One invocation for the four commands: their shared packages are compiled once; one link each.
(cd "$w" && go build -p "$P" -trimpath -tags selinux,notest,grpcnotrace -ldflags "$ld" -o "$out/" "${pkgs[@]}") >&2
step_end kubernetes

# --- etcd -----------------------------------------------------------------------------------------------
step_start "etcd $ETCD_VERSION"
etcd_commit="$(mod_json "go.etcd.io/etcd/server/v3@$ETCD_VERSION" Hash || true)"
w="$(new_wrapper etcd)"
(cd "$w" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" "go.etcd.io/etcd/etcdctl/v3@$ETCD_VERSION") >&2
etcd_sha="${etcd_commit:0:12}"
ld="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=${etcd_sha:-$ETCD_VERSION}"
# Both main packages sit at a /v3 module root, so the output names are given explicitly.
(cd "$w" && go build -p "$P" -trimpath -ldflags "$ld" -o "$out/etcd" go.etcd.io/etcd/server/v3) >&2
(cd "$w" && go build -p "$P" -trimpath -ldflags "$ld" -o "$out/etcdctl" go.etcd.io/etcd/etcdctl/v3) >&2
step_end etcd

# --- helm -----------------------------------------------------------------------------------------------
step_start "helm $HELM_VERSION"
helm_gomod="$(mod_json "helm.sh/helm/v3@$HELM_VERSION" GoMod)"
helm_commit="$(mod_json "helm.sh/helm/v3@$HELM_VERSION" Hash || true)"
# Helm's Makefile derives the Kubernetes version its lint/capabilities default to from client-go's version.
cg="$(awk '$1 == "k8s.io/client-go" {print $2; exit}' "$helm_gomod")" # v0.37.0
w="$(new_wrapper helm)"
(cd "$w" && go get "helm.sh/helm/v3/cmd/helm@$HELM_VERSION") >&2
hv=helm.sh/helm/v3
ld="-s -w -X $hv/internal/version.version=$HELM_VERSION -X $hv/internal/version.gitTreeState=clean"
[ -z "$helm_commit" ] || ld="$ld -X $hv/internal/version.gitCommit=$helm_commit"
if [ -n "$cg" ]; then
  cg_major=$(($(echo "$cg" | cut -d. -f1 | tr -d v) + 1))
  cg_minor="$(echo "$cg" | cut -d. -f2)"
  for vp in $hv/pkg/lint/rules $hv/pkg/chartutil; do
    ld="$ld -X $vp.k8sVersionMajor=$cg_major -X $vp.k8sVersionMinor=$cg_minor"
  done
fi
(cd "$w" && go build -p "$P" -trimpath -ldflags "$ld" -o "$out/helm" "$hv/cmd/helm") >&2
step_end helm

# --- CoreDNS --------------------------------------------------------------------------------------------
step_start "coredns $COREDNS_VERSION"
coredns_commit="$(mod_json "github.com/coredns/coredns@$COREDNS_VERSION" Hash || true)"
w="$(new_wrapper coredns)"
(cd "$w" && go get "github.com/coredns/coredns@$COREDNS_VERSION") >&2
coredns_sha="${coredns_commit:0:12}"
ld="-s -w -X github.com/coredns/coredns/coremain.GitCommit=${coredns_sha:-$COREDNS_VERSION}"
(cd "$w" && go build -p "$P" -trimpath -ldflags "$ld" -o "$out/coredns" github.com/coredns/coredns) >&2
step_end coredns

for b in "${BINARIES[@]}"; do
  [ -x "$out/$b" ] || fail "the build produced no '$b'" "read the go build output above"
done
{
  echo "key=$KEY"
  echo "go=$(go env GOVERSION)"
  echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "k8s=$K8S_VERSION staging=$K8S_STAGING_VERSION commit=$k8s_commit"
  echo "etcd=$ETCD_VERSION commit=$etcd_commit"
  echo "helm=$HELM_VERSION commit=$helm_commit"
  echo "coredns=$COREDNS_VERSION commit=$coredns_commit"
  echo "timings=${timings[*]}"
} >"$tmp/BUILDINFO"

# Atomic publish: rename the finished tree into place. (A stale $DEST without a full bin set can only be a
# hand-made leftover; we hold the lock, so it is safe to replace.)
[ ! -e "$DEST" ] || rm -rf "$DEST"
mv "$tmp" "$DEST"
tmp=""
log "done: ${timings[*]}"
echo "$BIN"
