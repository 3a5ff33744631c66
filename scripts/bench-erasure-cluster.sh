#!/usr/bin/env bash
# make bench-erasure-cluster: reads of a coded stream against a replicated
# one through the stream client, on a fresh cluster of processes (a
# stream manager and four extent-nodes on this machine's one disk): two
# streams get FILL_MIB MiB each in sealed extents of 64 MiB, one with the
# policy --ec 2+1; once the manager has coded it, stream-client rbench
# scans both, then the coded one again with one shard's node killed
# (degraded: reconstructed from the others).
#
#   FILL_MIB=256 BASE_PORT=26400 bash scripts/bench-erasure-cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."

fill_mib=${FILL_MIB:-256}
base=${BASE_PORT:-26400}
go build -o bin/ ./cmd/...
mkdir -p data
dir=$(mktemp -d "$PWD/data/bench-erasure.XXXXXX")
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
bin/stream-manager --name bench --listen "$sm" --http "" --data-dir "$dir/sm" \
	--etcd-client-url "http://127.0.0.1:$((base + 10))" --etcd-peer-url "http://127.0.0.1:$((base + 11))" \
	--initial-cluster "bench=http://127.0.0.1:$((base + 11))" \
	--reconcile-interval 500ms --gc-grace 1m --replica-dead-after 1h 2>"$dir/sm.log" &
pids+=($!)
node_pids=()
for i in 1 2 3 4; do
	bin/extent-node --listen "127.0.0.1:$((base + 20 + i))" --http "" --sm "$sm" --disk "$dir/node$i" \
		--full-report-every 2 2>"$dir/node$i.log" &
	pids+=($!)
	node_pids+=($!)
done
sc() { bin/stream-client --sm "$sm" "$@"; }
for _ in $(seq 1 120); do
	[ "$(sc nodes --json 2>/dev/null | grep -oE '"alive": *true' | wc -l)" -ge 4 ] && break
	sleep 0.5
done

echo "cluster: 1 stream-manager, 4 extent-nodes, one disk, this 2-core machine; $fill_mib MiB a stream in sealed extents of 64 MiB"
sc create bench/replicated >/dev/null
sc create bench/coded --ec 2+1 >/dev/null
for s in bench/replicated bench/coded; do
	head -c "$((fill_mib << 20))" /dev/urandom | sc --max-extent-size 64MiB append "$s" --block-size 1048576 2>/dev/null
done
for _ in $(seq 1 240); do
	sc info bench/coded | grep -q ' sealed .* replicated ' || break
	sleep 0.5
done
if sc info bench/coded | grep -q ' sealed .* replicated '; then
	echo "bench-erasure-cluster: the coded stream's extents were not all coded within 2 minutes; logs in $dir" >&2
	exit 1
fi
sc info bench/coded | sed 's/^/  /'
sync
echo
echo "== rbench, replicated"
sc rbench --stream bench/replicated
echo "== rbench, coded 2+1"
sc rbench --stream bench/coded
# A node holding shards of the first coded extent (and no tail primary
# role matters: rbench stops at the replicated tail, read from its primary).
victim=$(sc info bench/coded | awk '/^[0-9]+ .* ec 2\+1 / { split($6, a, "@"); print a[2]; exit }')
for i in 1 2 3 4; do
	if [ "127.0.0.1:$((base + 20 + i))" = "$victim" ]; then
		kill -KILL "${node_pids[$((i - 1))]}"
		echo
		echo "== rbench, coded 2+1, node$i (holding shard 0 of the coded extents it has) killed: degraded"
	fi
done
sc rbench --stream bench/coded || echo "(the tail's primary was on the killed node: its replicas are read once sealed)"
