#!/usr/bin/env bash
# make bench-cluster: starts a fresh local cluster of real processes (a
# stream manager with embedded etcd and three extent-nodes, on ports from
# BASE_PORT, data in a temporary directory under ./data), runs
# `stream-client wbench` at 4 KiB x 64, 64 KiB x 32 and 1 MiB x 8 for
# DURATION each, stops the cluster, and prints fio's figures for the same
# disk beside them. Everything it started is stopped and its data removed,
# also on Ctrl-C.
#
# NODE_FLAGS adds flags to every extent-node, WBENCH_FLAGS to wbench.
# WRITERS picks the stream client's writers to run each size with:
# single (the exactly-once pipelined writer) and/or shared.
#
#   DURATION=10s BASE_PORT=23400 WRITERS="single shared" bash scripts/bench-cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-10s}
base=${BASE_PORT:-23400}
writers=${WRITERS:-single shared}
bash scripts/ensure-fio.sh bench-cluster
go build -o bin/ ./cmd/...
mkdir -p data
dir=$(mktemp -d "$PWD/data/bench-cluster.XXXXXX")
pids=()

stop_cluster() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}
cleanup() {
	stop_cluster
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sm=127.0.0.1:$((base + 1))
bin/stream-manager --name bench --listen "$sm" --http "" --data-dir "$dir/sm" \
	--etcd-client-url "http://127.0.0.1:$((base + 10))" --etcd-peer-url "http://127.0.0.1:$((base + 11))" \
	--initial-cluster "bench=http://127.0.0.1:$((base + 11))" 2>"$dir/sm.log" &
pids+=($!)
for i in 1 2 3; do
	bin/extent-node --listen "127.0.0.1:$((base + 20 + i))" --http "" --sm "$sm" --disk "$dir/node$i" ${NODE_FLAGS:-} 2>"$dir/node$i.log" &
	pids+=($!)
done

alive=0
for _ in $(seq 1 120); do
	alive=$(bin/stream-client --sm "$sm" nodes --json 2>/dev/null | grep -oE '"alive": *true' | wc -l || true)
	[ "$alive" -ge 3 ] && break
	sleep 0.5
done
if [ "$alive" -lt 3 ]; then
	echo "bench-cluster: only $alive of 3 nodes alive after 60s; logs in $dir" >&2
	tail -5 "$dir"/*.log >&2
	exit 1
fi

echo "cluster: 1 stream-manager and 3 extent-node processes on this machine, one disk; client: stream-client wbench"
for w in "4096 64" "65536 32" "1048576 8" "4096 1"; do
	set -- $w
	for writer in $writers; do
		echo
		echo "== wbench --writer $writer --size $1 --inflight $2 --duration $duration"
		bin/stream-client --sm "$sm" wbench --writer "$writer" --stream "bench/$writer-$1" --size "$1" --inflight "$2" \
			--duration "$duration" ${WBENCH_FLAGS:-} 2>/dev/null
	done
done
stop_cluster

secs=${duration%s}
echo
echo "== fio on the same disk, after the cluster stopped (${secs}s each)"
for job in "4k --fdatasync=1" "64k --fdatasync=1" "1m --direct=1"; do
	set -- $job
	echo "-- fio $1 write $2"
	fio --name="bench-$1" --directory="$dir" --rw=write --bs="$1" --size=1g --runtime="${secs}s" --time_based \
		--ioengine=psync --unlink=1 "$2" | grep -E '^ +(write|WRITE):|^ +(sync|lat) .*avg' | head -3
done
