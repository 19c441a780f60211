#!/usr/bin/env bash
# Copies the CRDs (generated in packages/k8s/crds/ from packages/k8s/src/crd-schemas.ts) into the chart's
# crds/ directory, which `helm install` applies before the templates. test/helm-crds.test.ts checks that the
# copies are identical. Run after changing the CRDs: install/kubernetes/sync-crds.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/../../packages/k8s/crds"
dst="$here/cilium/crds"
shopt -s nullglob
files=("$src"/*.yaml)
if [ ${#files[@]} -eq 0 ]; then
  echo "sync-crds: no CRDs in $src" >&2
  echo "hint: generate them first: UPDATE_CRDS=1 npx vitest run packages/k8s" >&2
  exit 1
fi
mkdir -p "$dst"
# Drop copies whose source is gone, then copy every source.
for f in "$dst"/*.yaml; do
  [ -e "$src/$(basename "$f")" ] || rm -f "$f"
done
for f in "${files[@]}"; do
  cp "$f" "$dst/$(basename "$f")"
done
echo "sync-crds: ${#files[@]} CRDs -> $dst"
