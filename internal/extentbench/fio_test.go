package extentbench

import (
	"slices"
	"testing"
	"time"

	"github.com/clogs-io/clogs/internal/benchkit"
)

// fioSample4K is fio 3.33's --output-format=json report of
// `fio --name=write4k-fdatasync --rw=write --bs=4k --fdatasync=1
// --ioengine=psync --time_based --runtime=1s` on the reference machine,
// cut down to the fields a report has around the ones parsed.
const fioSample4K = `
{
  "fio version": "fio-3.33",
  "timestamp": 1795319000,
  "time": "Sun Nov 22 03:43:20 2026",
  "jobs": [
    {
      "jobname": "write4k-fdatasync",
      "groupid": 0,
      "error": 0,
      "job options": {
        "name": "write4k-fdatasync",
        "directory": "/tmp/fiot",
        "rw": "write",
        "bs": "4k",
        "fdatasync": "1",
        "size": "64M",
        "runtime": "1s",
        "ioengine": "psync",
        "unlink": "1"
      },
      "write": {
        "io_bytes": 2621440,
        "bw_bytes": 2618821,
        "bw": 2557,
        "iops": 639.360639,
        "runtime": 1001,
        "total_ios": 640,
        "clat_ns": {
          "min": 1900,
          "max": 243052,
          "mean": 11110.178125,
          "stddev": 14223.142442,
          "N": 640,
          "percentile": {
            "1.000000": 2096,
            "5.000000": 2384,
            "10.000000": 2608,
            "20.000000": 2928,
            "30.000000": 3408,
            "40.000000": 4448,
            "50.000000": 7648,
            "60.000000": 10688,
            "70.000000": 12992,
            "80.000000": 16192,
            "90.000000": 22400,
            "95.000000": 30592,
            "99.000000": 51968,
            "99.500000": 73216,
            "99.900000": 242688,
            "99.950000": 242688,
            "99.990000": 242688
          }
        },
        "lat_ns": {
          "min": 1981,
          "max": 243169,
          "mean": 11337.414062,
          "stddev": 14258.332351,
          "N": 640
        }
      },
      "sync": {
        "total_ios": 0,
        "lat_ns": {
          "min": 120207,
          "max": 107322084,
          "mean": 1549308.734375,
          "stddev": 4598210.307896,
          "N": 640,
          "percentile": {
            "1.000000": 148480,
            "5.000000": 175104,
            "10.000000": 187392,
            "20.000000": 214016,
            "30.000000": 242688,
            "40.000000": 257024,
            "50.000000": 325632,
            "60.000000": 733184,
            "70.000000": 1630208,
            "80.000000": 2703360,
            "90.000000": 3981312,
            "95.000000": 4423680,
            "99.000000": 8585216,
            "99.500000": 11993088,
            "99.900000": 107479040,
            "99.950000": 107479040,
            "99.990000": 107479040
          }
        }
      },
      "job_runtime": 1000
    }
  ]
}`

// fioSample1MDirect is the job and write part of fio 3.33's report of the
// 1 MiB direct-write job: without fdatasync its sync section is empty.
const fioSample1MDirect = `{"jobs": [{"jobname": "write1m-direct", "error": 0,
  "write": {"bw_bytes": 658338909, "iops": 627.840909,
    "clat_ns": {"max": 346104938, "N": 663,
      "percentile": {"50.000000": 374784, "99.000000": 14483456}}},
  "sync": {"total_ios": 0, "lat_ns": {"min": 0, "max": 0, "mean": 0.0, "stddev": 0.0, "N": 0}}}]}`

func TestParseFioJSONWithFdatasync(t *testing.T) {
	got, err := parseFioJSON([]byte(fioSample4K))
	if err != nil {
		t.Fatal(err)
	}
	if got.BandwidthBytes != 2618821 || got.IOPS != 639.360639 {
		t.Errorf("bandwidth %v, IOPS %v; want 2618821, 639.360639", got.BandwidthBytes, got.IOPS)
	}
	wantWrite := benchkit.Latency{P50: 7648, P99: 51968, P999: 242688, Max: 243052}
	if got.WriteLatency != wantWrite {
		t.Errorf("write latency %+v, want %+v", got.WriteLatency, wantWrite)
	}
	wantSync := benchkit.Latency{P50: 325632, P99: 8585216, P999: 107479040, Max: 107322084}
	if got.SyncLatency == nil || *got.SyncLatency != wantSync {
		t.Errorf("fdatasync latency %+v, want %+v", got.SyncLatency, wantSync)
	}
}

func TestParseFioJSONWithoutFdatasync(t *testing.T) {
	got, err := parseFioJSON([]byte("fio: some notice before the report\n" + fioSample1MDirect))
	if err != nil {
		t.Fatal(err)
	}
	if got.SyncLatency != nil {
		t.Errorf("fdatasync latency %+v for a job without fdatasync", got.SyncLatency)
	}
	if got.WriteLatency.P99 != 14483456*time.Nanosecond || got.IOPS != 627.840909 {
		t.Errorf("got %+v", got)
	}
}

func TestParseFioJSONRejectsUselessReports(t *testing.T) {
	for name, out := range map[string]string{
		"no JSON":    "fio: engine psync not loadable\n",
		"truncated":  fioSample4K[:200],
		"no jobs":    `{"jobs": []}`,
		"job failed": `{"jobs": [{"jobname": "x", "error": 5, "write": {"clat_ns": {"N": 3}}}]}`,
		"no writes":  `{"jobs": [{"jobname": "x", "error": 0, "write": {"clat_ns": {"N": 0}}}]}`,
	} {
		if _, err := parseFioJSON([]byte(out)); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

func TestFioArgs(t *testing.T) {
	args := fioArgs("/bench", fioJobs[0], 2500*time.Millisecond)
	for _, want := range []string{
		"--name=write4k-fdatasync", "--directory=/bench", "--rw=write", "--bs=4k", "--fdatasync=1",
		"--runtime=3s", "--time_based", "--ioengine=psync", "--output-format=json",
	} {
		if !slices.Contains(args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	direct := fioArgs("/bench", fioJobs[2], time.Millisecond)
	if !slices.Contains(direct, "--direct=1") || slices.Contains(direct, "--fdatasync=1") || !slices.Contains(direct, "--runtime=1s") {
		t.Errorf("1m job args %q: want --direct=1, --runtime=1s and no fdatasync", direct)
	}
}
