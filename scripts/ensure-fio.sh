#!/usr/bin/env bash
# Installs fio from Debian when it is missing, for the benchmarks' fio
# baseline (scripts/bench-extent.sh, scripts/bench-node.sh). Installing
# needs root; without it the benchmark runs anyway and its table says
# 'fio missing'. Messages go to stderr, prefixed with the name given as
# the first argument:
#
#   bash scripts/ensure-fio.sh bench-extent
set -euo pipefail

name=${1:-ensure-fio}

if command -v fio >/dev/null 2>&1; then
	exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "$name: fio is missing and installing it needs root; the table will say 'fio missing'" >&2
	exit 0
fi
echo "$name: fio is missing; running: apt-get update && apt-get install -y fio" >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fio >&2
echo "$name: installed $(fio --version)" >&2
