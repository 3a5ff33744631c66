#!/usr/bin/env bash
# Runs the replication benchmark (three extent-nodes and a client on this
# machine) next to fio's figures for the same disk. Installs fio from Debian
# when it is missing (needs root), then runs cmd/node-bench with the
# arguments given, for example:
#
#   bash scripts/bench-node.sh --duration 3s
#   bash scripts/bench-node.sh --in-process --skip-comparisons --json
set -euo pipefail

cd "$(dirname "$0")/.."

bash scripts/ensure-fio.sh bench-node
exec go run ./cmd/node-bench "$@"
