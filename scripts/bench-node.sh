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

install_fio() {
	if command -v fio >/dev/null 2>&1; then
		return
	fi
	if [[ $(id -u) -ne 0 ]]; then
		echo "bench-node: fio is missing and installing it needs root; the table will say 'fio missing'" >&2
		return
	fi
	echo "bench-node: fio is missing; running: apt-get update && apt-get install -y fio" >&2
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fio >&2
	echo "bench-node: installed $(fio --version)" >&2
}

install_fio
exec go run ./cmd/node-bench "$@"
