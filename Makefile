# clogs — see README.md. Dev tools are pinned in go.mod's tool block and run
# with `go tool`, so a fresh machine needs only Go and make.

GO       ?= go
BIN      := bin
PKGS     := ./...
TEST_TIMEOUT ?= 15m
FUZZTIME ?= 30s

.PHONY: all build run run-ha test-e2e test-faults run-bench test test-unit lint fmt bench bench-extent bench-node bench-cluster bench-collector bench-mask bench-repair bench-erasure bench-erasure-cluster fuzz proto verify-proto clean

all: build

## build: compile every command into ./bin
build:
	$(GO) build -o $(BIN)/ ./cmd/...

## run: the local cluster under goreman (Procfile): a stream manager with
## embedded etcd and three extent-nodes, data in ./data; Ctrl-C stops it
run: build
	$(GO) tool goreman -f Procfile start

## run-ha: three stream managers (one embedded etcd cluster) and three
## extent-nodes (Procfile.ha); shares ./data with run: `make clean` between
run-ha: build
	$(GO) tool goreman -f Procfile.ha start

## run-bench: exercise the extent engine on this disk (short extent-bench)
run-bench: build
	$(BIN)/extent-bench --dir ./data/run --duration 1s --read-size 128MiB --skip-fio

## test: lint, then every test with the race detector (what CI runs)
test: lint test-unit

test-unit:
	$(GO) test -race -timeout $(TEST_TIMEOUT) $(PKGS)

## test-e2e: only the end-to-end tests on real processes (part of test too)
test-e2e:
	$(GO) test -race -count=1 -timeout 5m ./internal/e2e/

## test-faults: the fault suite: kill -9 of nodes (one at a time, two at
## once) and of the leading manager during appends (part of test too)
test-faults:
	$(GO) test -race -count=1 -timeout 10m -run 'TestFaults' -v ./internal/e2e/

## lint: gofmt, go vet, staticcheck
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

## bench: benchmarks with the disk's own fio figures beside them
bench: bench-extent bench-node

bench-extent:
	bash scripts/bench-extent.sh $(BENCH_ARGS)

## bench-cluster: a fresh local cluster of processes, wbench through the
## stream client at 4 KiB x64, 64 KiB x32, 1 MiB x8, fio beside (DURATION=10s)
bench-cluster:
	bash scripts/bench-cluster.sh

## bench-collector: cluster + collector + clogs-bench as processes: peak
## lines/s accepted, zero loss at RATE (200000) with --verify, masking, fio
bench-collector:
	bash scripts/bench-collector.sh

## bench-repair: foreground append latency before and while a dead node's
## replicas are copied to a spare node (goal: p99 at most 2x)
bench-repair:
	bash scripts/bench-repair.sh

## bench-erasure: Reed-Solomon encode, coded and degraded reads, storage
## ratio, on one core (4+2, 2+1, 3+2 of a 64 MiB extent)
bench-erasure:
	$(GO) test -run '^$$' -bench . -benchtime 3x -cpu 1 ./erasure/

## bench-erasure-cluster: scans of a replicated and a 2+1 coded stream
## through the stream client, and of the coded one with a shard node killed
bench-erasure-cluster:
	bash scripts/bench-erasure-cluster.sh

## bench-mask: the masking engine on one core
bench-mask:
	$(GO) test -run '^$$' -bench BenchmarkMask -benchtime 2s -cpu 1 ./mask/

## bench-node: three extent-node processes and a client on this machine
## (NODE_BENCH_ARGS='--in-process' runs the nodes in the benchmark's process)
bench-node:
	bash scripts/bench-node.sh $(BENCH_ARGS) $(NODE_BENCH_ARGS)

## fuzz: run each fuzz target for FUZZTIME
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeBlock$$' -fuzztime $(FUZZTIME) ./extent/
	$(GO) test -run '^$$' -fuzz '^FuzzOpen$$' -fuzztime $(FUZZTIME) ./extent/
	$(GO) test -run '^$$' -fuzz '^FuzzValidateAppend$$' -fuzztime $(FUZZTIME) ./node/
	$(GO) test -run '^$$' -fuzz '^FuzzValidateAlloc$$' -fuzztime $(FUZZTIME) ./node/
	$(GO) test -run '^$$' -fuzz '^FuzzDatagram$$' -fuzztime $(FUZZTIME) ./clogs/
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./logblock/
	$(GO) test -run '^$$' -fuzz '^FuzzJSONString$$' -fuzztime $(FUZZTIME) ./logblock/
	$(GO) test -run '^$$' -fuzz '^FuzzMask$$' -fuzztime $(FUZZTIME) ./mask/
	$(GO) test -run '^$$' -fuzz '^FuzzShardHeader$$' -fuzztime $(FUZZTIME) ./erasure/

## proto: regenerate proto/*.pb.go (protoc from Debian, plugins pinned in go.mod)
proto:
	bash scripts/genproto.sh

## verify-proto: regenerate and fail if the committed code differs
verify-proto: proto
	git diff --exit-code -- proto/

clean:
	rm -rf $(BIN) ./data
