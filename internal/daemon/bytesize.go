package daemon

import (
	"fmt"
	"strconv"
	"strings"
)

// ByteSize is a flag value counting bytes: a plain number ("2147483648"),
// or one with a binary unit ("2GiB", "512 MiB").
type ByteSize uint64

// byteUnits are the accepted suffixes, longest first so that "B" does not
// match the end of "KiB".
var byteUnits = []struct {
	suffix string
	factor uint64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1},
}

// Set parses a size.
func (b *ByteSize) Set(s string) error {
	text := strings.TrimSpace(s)
	number, factor := text, uint64(1)
	for _, u := range byteUnits {
		if n, ok := strings.CutSuffix(text, u.suffix); ok {
			number, factor = strings.TrimSpace(n), u.factor
			break
		}
	}
	n, err := strconv.ParseUint(number, 10, 64)
	if err != nil {
		return fmt.Errorf("size %q: want bytes, or a number with a KiB, MiB, GiB or TiB suffix", s)
	}
	if n > (1<<64-1)/factor {
		return fmt.Errorf("size %q overflows 64 bits", s)
	}
	*b = ByteSize(n * factor)
	return nil
}

// String renders the size in the largest unit that divides it, so that
// --help shows "2GiB" rather than 2147483648.
func (b ByteSize) String() string {
	for _, u := range byteUnits {
		if u.factor > 1 && b > 0 && uint64(b)%u.factor == 0 {
			return fmt.Sprintf("%d%s", uint64(b)/u.factor, u.suffix)
		}
	}
	return strconv.FormatUint(uint64(b), 10)
}

// Type names the value in --help.
func (b *ByteSize) Type() string { return "bytes" }
