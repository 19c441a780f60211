# Sourced by the scripts that build Go tools from the Go module proxy (scripts/build-go-tools.sh,
# lab/build-upstream.sh, scripts/build-kube-proxy.sh).

# Puts the machine's Go toolchain on PATH when a non-login shell (CI) lacks it.
go_on_path() {
  if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then PATH="/usr/local/go/bin:$PATH"; fi
  command -v go >/dev/null 2>&1
}

# Prints the machine's GOPROXY with 'direct' (which would clone from VCS hosts) and 'off' removed:
# module proxies only. Prints nothing when no proxy is left.
module_proxy_only() {
  local proxy_in proxy="" p
  local -a parts
  proxy_in="$(go env GOPROXY)"
  IFS=',|' read -r -a parts <<<"$proxy_in"
  for p in "${parts[@]}"; do
    case "$p" in
      direct | off | "") ;;
      *) proxy="${proxy:+$proxy,}$p" ;;
    esac
  done
  printf '%s' "$proxy"
}

# Takes the build lock of cache dir $1 (fd 9, held until the script exits), waiting while another build
# holds it. The caller checks afterwards whether that build already produced what it wants.
lock_build_root() {
  mkdir -p "$1"
  exec 9>"$1/.lock"
  if ! flock -n 9; then
    log "another build holds $1/.lock; waiting for it"
    flock 9
  fi
}

# Makes the scratch dir of this build under $1 (in $tmp, removed on exit) and removes the leftovers of
# builds that were killed (the caller holds the lock, so none of them is running).
new_build_dir() {
  tmp="$(mktemp -d "$1/.build-XXXXXX")"
  trap 'if [ -n "${tmp:-}" ]; then chmod -R u+w "$tmp" 2>/dev/null || true; rm -rf "$tmp"; fi' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  local old
  for old in "$1"/.build-*; do
    [ "$old" = "$tmp" ] || [ ! -d "$old" ] || rm -rf "$old"
  done
}

# The Go environment of a module-proxy build: proxy $1, module and build caches under cache root $2.
export_go_build_env() {
  export GOPROXY="$1" GOFLAGS="-mod=mod -modcacherw" GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off \
    GOMODCACHE="$2/go/mod" GOCACHE="$2/go/build"
}

# mod_json MODULE@VERSION FIELD: a string field of `go mod download -json` (GoMod, Dir, Origin's Hash), run in
# the build dir $tmp.
mod_json() {
  (cd "$tmp" && go mod download -json "$1") | sed -n "s/^[[:space:]]*\"$2\": \"\(.*\)\",\{0,1\}$/\1/p" | head -n 1
}
