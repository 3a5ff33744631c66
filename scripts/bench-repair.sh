#!/usr/bin/env bash
# make bench-repair: does re-replication leave foreground appends alone?
# A fresh cluster of processes (a stream manager, four extent-nodes, one
# disk) gets FILL_MIB MiB in sealed extents of 64 MiB; then stream-client
# wbench (4 KiB x 16 in flight) runs for DURATION before any failure, and
# again while the manager copies the replicas of a node killed with -9 to
# the spare node (throttled by the target's --repair-rate). It prints both
# latency tables and the ratio of the p99s (the issue's goal: at most 2).
#
#   FILL_MIB=512 DURATION=10s REPAIR_RATE=16MiB BASE_PORT=25400 bash scripts/bench-repair.sh
#
# NODE_FLAGS adds flags to every extent-node.
set -euo pipefail
cd "$(dirname "$0")/.."

fill_mib=${FILL_MIB:-512}
duration=${DURATION:-10s}
repair_rate=${REPAIR_RATE:-16MiB}
base=${BASE_PORT:-25400}
go build -o bin/ ./cmd/...
mkdir -p data
dir=$(mktemp -d "$PWD/data/bench-repair.XXXXXX")
pids=()

stop_all() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}
cleanup() {
	stop_all
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sm=127.0.0.1:$((base + 1))
sm_http=$((base + 2))
bin/stream-manager --name bench --listen "$sm" --http "127.0.0.1:$sm_http" --data-dir "$dir/sm" \
	--etcd-client-url "http://127.0.0.1:$((base + 10))" --etcd-peer-url "http://127.0.0.1:$((base + 11))" \
	--initial-cluster "bench=http://127.0.0.1:$((base + 11))" \
	--node-dead-after 3s --replica-dead-after 5s --reconcile-interval 500ms --gc-grace 1m 2>"$dir/sm.log" &
pids+=($!)
node_pids=()
for i in 1 2 3 4; do
	bin/extent-node --listen "127.0.0.1:$((base + 20 + i))" --http "" --sm "$sm" --disk "$dir/node$i" \
		--full-report-every 2 --repair-rate "$repair_rate" ${NODE_FLAGS:-} 2>"$dir/node$i.log" &
	pids+=($!)
	node_pids+=($!)
done

# get PATH prints an HTTP page of the manager (bash's /dev/tcp: no curl).
get() {
	exec 3<>"/dev/tcp/127.0.0.1/$sm_http"
	printf 'GET %s HTTP/1.0\r\nHost: bench\r\n\r\n' "$1" >&3
	sed '1,/^\r$/d' <&3
	exec 3<&-
}
alive() { bin/stream-client --sm "$sm" nodes --json 2>/dev/null | grep -oE '"alive": *true' | wc -l || true; }

for _ in $(seq 1 120); do
	[ "$(alive)" -ge 4 ] && break
	sleep 0.5
done
if [ "$(alive)" -lt 4 ]; then
	echo "bench-repair: nodes not alive after 60s; logs in $dir" >&2
	exit 1
fi

echo "cluster: 1 stream-manager, 4 extent-nodes (--repair-rate $repair_rate), one disk, this 2-core machine"
echo "filling: $fill_mib MiB in sealed extents of 64 MiB"
head -c "$((fill_mib << 20))" /dev/urandom | bin/stream-client --sm "$sm" --max-extent-size 64MiB append bench/fill --block-size 1048576

wbench() {
	bin/stream-client --sm "$sm" wbench --stream "$1" --size 4096 --inflight 16 --duration "$duration" --json 2>/dev/null | tr -d ' \n'
}
num() { echo "$2" | grep -oE "\"$1\":[0-9.]+" | head -1 | cut -d: -f2; }
row() {
	awk -v w="$1" -v ops="$(num ops_per_s "$2")" -v p50="$(num p50_us "$2")" -v p99="$(num p99_us "$2")" -v p999="$(num p999_us "$2")" \
		'BEGIN { printf "%-16s | %8.0f | %8.2f | %8.2f | %8.2f\n", w, ops, p50 / 1000, p99 / 1000, p999 / 1000 }'
}
echo
echo "== before any failure: wbench --size 4096 --inflight 16 --duration $duration"
before=$(wbench bench/before)

echo
echo "== killing node1 with -9; waiting for the manager to start copying its replicas"
kill -KILL "${node_pids[0]}"
repairing=""
for _ in $(seq 1 120); do
	repairing=$(get /status | tr -d ' \n' | grep -oE '"repairing":\[[0-9,]+\]' || true)
	[ -n "$repairing" ] && break
	sleep 0.25
done
[ -n "$repairing" ] || { echo "bench-repair: no repair started within 30s; logs in $dir" >&2; exit 1; }
echo "repairs running: $repairing"
echo
echo "== while repairing: wbench --size 4096 --inflight 16 --duration $duration"
during=$(wbench bench/during)
repaired=$(get /metrics | grep -E '^clogs_sm_repaired_bytes_total ' | awk '{print $2}')
under=$(get /status | tr -d ' \n' | grep -oE '"under_replicated_extents":[0-9]+' | cut -d: -f2)
echo
echo "bytes copied by the end of the second run: ${repaired:-0}; under-replicated extents then: ${under:-?}"
echo
echo "run              |    ops/s |  p50 ms  |  p99 ms  | p99.9 ms"
row "before failure" "$before"
row "while repairing" "$during"
awk -v b="$(num p99_us "$before")" -v d="$(num p99_us "$during")" 'BEGIN { printf "p99 while repairing / before: %.2fx (goal: at most 2x)\n", d / b }'
