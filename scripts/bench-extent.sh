#!/usr/bin/env bash
# Runs the extent engine benchmark next to fio's figures for the same disk.
# Installs fio from Debian when it is missing (needs root), then runs
# cmd/extent-bench with the arguments given, for example:
#
#   bash scripts/bench-extent.sh --duration 3s --read-size 256MiB
set -euo pipefail

cd "$(dirname "$0")/.."

bash scripts/ensure-fio.sh bench-extent
exec go run ./cmd/extent-bench "$@"
