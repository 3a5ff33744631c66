#!/usr/bin/env bash
# make bench-collector: the collector end to end on this machine, sender
# included: a fresh local cluster of processes (a stream manager with
# embedded etcd, three extent-nodes, fsync on, three-way replication) and a
# clogs-collector, loaded by clogs-bench with 200-byte lines over FILES
# files, in two runs:
#
#   peak       PEAK lines/s offered for DURATION: lines the collector
#              accepted per second (its /status), and what the kernel
#              dropped on its sockets (an unpaced sender would take the
#              collector's CPU on this 2-core box and measure itself);
#   sustained  RATE lines/s for DURATION with --verify: every line read
#              back, counted lost, reordered, duplicated or not masked.
#
# Then the masking benchmark (one core) and fio on the same disk.
# Everything started is stopped and its data removed, also on Ctrl-C.
#
#   DURATION=10s PEAK=300000 RATE=200000 FILES=16 HANDLES=2 BASE_PORT=24400 bash scripts/bench-collector.sh
#
# COLLECTOR_FLAGS adds flags to clogs-collector (say --read-buffer 8MiB).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-10s}
rate=${RATE:-200000}
peak=${PEAK:-300000}
files=${FILES:-16}
handles=${HANDLES:-2}
base=${BASE_PORT:-24400}
bash scripts/ensure-fio.sh bench-collector
go build -o bin/ ./cmd/...
mkdir -p data
dir=$(mktemp -d "$PWD/data/bench-collector.XXXXXX")
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
udp=127.0.0.1:$((base + 30))
http_port=$((base + 31))
bin/stream-manager --name bench --listen "$sm" --http "" --data-dir "$dir/sm" \
	--etcd-client-url "http://127.0.0.1:$((base + 10))" --etcd-peer-url "http://127.0.0.1:$((base + 11))" \
	--initial-cluster "bench=http://127.0.0.1:$((base + 11))" 2>"$dir/sm.log" &
pids+=($!)
for i in 1 2 3; do
	bin/extent-node --listen "127.0.0.1:$((base + 20 + i))" --http "" --sm "$sm" --disk "$dir/node$i" 2>"$dir/node$i.log" &
	pids+=($!)
done
bin/clogs-collector --listen "$udp" --syslog "" ${COLLECTOR_FLAGS:-} --http "127.0.0.1:$http_port" --sm "$sm" 2>"$dir/collector.log" &
pids+=($!)

# status prints the collector's /status (bash's /dev/tcp: no curl needed).
status() {
	exec 3<>"/dev/tcp/127.0.0.1/$http_port"
	printf 'GET /status HTTP/1.0\r\nHost: bench\r\n\r\n' >&3
	sed '1,/^\r$/d' <&3
	exec 3<&-
}
# field NAME reads a number from /status ("clogs/log" for datagrams).
field() {
	status | tr -d ' \n' | grep -oE "\"$1\":[0-9]+" | head -1 | cut -d: -f2 || echo 0
}

alive=0
for _ in $(seq 1 120); do
	alive=$(bin/stream-client --sm "$sm" nodes --json 2>/dev/null | grep -oE '"alive": *true' | wc -l || true)
	[ "$alive" -ge 3 ] && status >/dev/null 2>&1 && break
	sleep 0.5
done
if [ "$alive" -lt 3 ]; then
	echo "bench-collector: only $alive of 3 nodes alive after 60s; logs in $dir" >&2
	tail -5 "$dir"/*.log >&2
	exit 1
fi
cat >"$dir/sender.yaml" <<YAML
collectors:
  - {name: c1, addr: "$udp", weight: 1}
YAML

echo "cluster: 1 stream-manager, 3 extent-nodes (fsync, three-way), 1 clogs-collector, clogs-bench: all processes on this 2-core machine, one disk"
echo
echo "== peak: clogs-bench -x $handles -f $files -d 200 -z $peak --duration $duration"
before=$(field "clogs/log")
drops_before=$(field kernel_drops)
began=$(date +%s.%N)
bin/clogs-bench -c "$dir/sender.yaml" -x "$handles" -f "$files" -t bench -d 200 -z "$peak" --duration "$duration" --file-prefix peak 2>/dev/null
ended=$(date +%s.%N)
sleep 1 # the collector drains its socket buffers
after=$(field "clogs/log")
drops_after=$(field kernel_drops)
awk -v a="$((after - before))" -v d="$((drops_after - drops_before))" -v b="$began" -v e="$ended" \
	'BEGIN { s = e - b; printf "collector accepted %d lines in %.1fs: %.0f lines/s; kernel dropped %d on its sockets\n", a, s, a / s, d }'

echo
echo "== sustained: clogs-bench -x $handles -f $files -d 200 -z $rate --duration $duration --cards --verify"
drops_before=$(field kernel_drops)
bin/clogs-bench -c "$dir/sender.yaml" -x "$handles" -f "$files" -t bench -d 200 -z "$rate" --duration "$duration" \
	--cards --file-prefix sustained --verify --sm "$sm" 2>/dev/null || echo "(clogs-bench --verify exited $?)"
echo "kernel drops on the collector's sockets during the run: $(($(field kernel_drops) - drops_before))"
echo "collector /status after both runs:"
status | sed 's/^/  /'
stop_all

echo
echo "== masking, one core (go test -bench BenchmarkMask -cpu 1)"
go test -run '^$' -bench BenchmarkMask -benchtime 2s -cpu 1 ./mask/ | grep -E '^Benchmark' |
	awk '{ printf "  %-28s %10s ns/line  %8.0f lines/s  %s MB/s\n", $1, $3, 1e9 / $3, $5 }'

secs=${duration%s}
echo
echo "== fio on the same disk, after the cluster stopped (${secs}s each)"
for job in "4k --fdatasync=1" "64k --fdatasync=1"; do
	set -- $job
	echo "-- fio $1 write $2"
	fio --name="bench-$1" --directory="$dir" --rw=write --bs="$1" --size=1g --runtime="${secs}s" --time_based \
		--ioengine=psync --unlink=1 "$2" | grep -E '^ +(write|WRITE):' | head -1
done
