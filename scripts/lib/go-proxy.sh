# Sourced by the scripts that build Go tools from the Go module proxy (scripts/build-go-tools.sh,
# lab/build-upstream.sh).

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
