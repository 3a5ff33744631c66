package nodebench

import "github.com/clogs-io/clogs/internal/extentbench"

// The fio baseline is extentbench's: same jobs, keys and result types, so
// that both benchmarks' JSON agree.
const (
	fioWrite4KSync  = extentbench.FioWrite4KSync
	fioWrite64KSync = extentbench.FioWrite64KSync
	fioWrite1MDir   = extentbench.FioWrite1MDir
)

// fioResult returns the result of job key, if fio ran it.
func fioResult(b extentbench.FioBaseline, key string) (extentbench.FioResult, bool) {
	return b.Result(key)
}
