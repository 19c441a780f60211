#!/usr/bin/env bash
# Regenerates packages/api/src/gen/ (TypeScript for the Hubble API) from packages/api/proto/ with
# protoc (Debian protobuf-compiler) and @bufbuild/protoc-gen-es v2 (npm, devDependency of @cilium-ts/api).
# google/protobuf/* imports resolve to @bufbuild/protobuf/wkt; protoc still needs the .proto files of the
# well-known types to parse the imports: they come with Debian libprotobuf-dev (/usr/include).
#
#   packages/api/scripts/gen-proto.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="$(cd "$here/../.." && pwd)"
plugin="$root/node_modules/.bin/protoc-gen-es"
out="$here/src/gen"

command -v protoc >/dev/null || { echo "gen-proto: protoc not found; hint: apt-get install protobuf-compiler" >&2; exit 1; }
[ -x "$plugin" ] || { echo "gen-proto: $plugin missing; hint: npm ci at $root" >&2; exit 1; }
wkt=""
for d in /usr/include /usr/local/include; do
  if [ -f "$d/google/protobuf/timestamp.proto" ]; then wkt="$d"; break; fi
done
[ -n "$wkt" ] || { echo "gen-proto: google/protobuf/timestamp.proto not found; hint: apt-get install libprotobuf-dev" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out"
cd "$here/proto"
protoc -I . -I "$wkt" \
  --plugin=protoc-gen-es="$plugin" \
  --es_out="$out" \
  --es_opt=target=ts,import_extension=js \
  flow/flow.proto observer/observer.proto peer/peer.proto relay/relay.proto grpc/health/v1/health.proto
echo "gen-proto: wrote $(find "$out" -name '*.ts' | wc -l) files to ${out#$root/}"
