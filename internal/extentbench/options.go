package extentbench

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Options says where and how long the benchmark runs.
type Options struct {
	// Dir is the parent of the bench directory: a fresh temporary
	// directory is made inside it and removed at the end.
	Dir string
	// Duration bounds each workload.
	Duration time.Duration
	// ReadSize is the size of the sealed extent read back; the memory
	// check also reads one of a quarter of it.
	ReadSize uint64
	// SkipFio leaves out the fio baseline.
	SkipFio bool
	// Progress receives one line as each workload starts; nil discards.
	Progress io.Writer
}

// DefaultOptions returns the options used when no flag says otherwise.
func DefaultOptions() Options {
	return Options{Dir: "data/bench", Duration: 5 * time.Second, ReadSize: 1 << 30}
}

// minReadSize keeps a quarter of the read extent large enough to hold
// several 64 KiB blocks.
const minReadSize = 4 << 20

// Validate checks the options.
func (o Options) Validate() error {
	switch {
	case o.Dir == "":
		return errors.New("extentbench: no bench directory")
	case o.Duration <= 0:
		return fmt.Errorf("extentbench: duration %v is not positive", o.Duration)
	case o.ReadSize < minReadSize:
		return fmt.Errorf("extentbench: read size %s is below the minimum %s", FormatBytes(o.ReadSize), FormatBytes(minReadSize))
	}
	return nil
}

// sizeUnits maps the suffixes ParseSize accepts to their multipliers.
var sizeUnits = []struct {
	suffix string
	factor uint64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
	{"B", 1}, {"", 1},
}

// ParseSize parses a byte count such as "1GiB", "256MiB", "512M" or
// "4096". The units are binary (K = KiB).
func ParseSize(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	for _, unit := range sizeUnits {
		number, found := strings.CutSuffix(s, unit.suffix)
		if !found {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(number), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("size %q: %w", s, err)
		}
		if n > (1<<64-1)/unit.factor {
			return 0, fmt.Errorf("size %q overflows 64 bits", s)
		}
		return n * unit.factor, nil
	}
	return 0, fmt.Errorf("size %q: unknown unit", s)
}

// FormatBytes renders a byte count with a binary unit, "256 MiB".
func FormatBytes(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	value := float64(n)
	unit := 0
	for value >= 1024 && unit < len(units)-1 {
		value /= 1024
		unit++
	}
	if value == float64(int64(value)) {
		return fmt.Sprintf("%d %s", int64(value), units[unit])
	}
	return fmt.Sprintf("%.1f %s", value, units[unit])
}
