#!/usr/bin/env bash
# Regenerates the Go code next to the .proto files in proto/ with pinned
# tools: protoc from Debian's protobuf-compiler (installed if missing), and
# protoc-gen-go / protoc-gen-go-grpc at the versions in go.mod's tool block.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v protoc >/dev/null; then
  echo "genproto: installing protoc (Debian protobuf-compiler)" >&2
  apt-get install -y protobuf-compiler >/dev/null
fi
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
go build -o "$bin/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc
PATH="$bin:$PATH" protoc -I proto \
  --go_out=proto --go_opt=paths=source_relative \
  --go-grpc_out=proto --go-grpc_opt=paths=source_relative \
  proto/*.proto
