package daemon

import "testing"

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"2147483648", 2 << 30, true},
		{"2GiB", 2 << 30, true},
		{"512 MiB", 512 << 20, true},
		{"64KiB", 64 << 10, true},
		{"4096B", 4096, true},
		{"1TiB", 1 << 40, true},
		{"2GB", 0, false},
		{"-1", 0, false},
		{"", 0, false},
		{"GiB", 0, false},
		{"17179869184TiB", 0, false},
	} {
		var b ByteSize
		err := b.Set(tc.in)
		if (err == nil) != tc.ok || (tc.ok && uint64(b) != tc.want) {
			t.Errorf("Set(%q) = %d, %v; want %d, ok %v", tc.in, b, err, tc.want, tc.ok)
		}
	}
	for v, want := range map[ByteSize]string{2 << 30: "2GiB", 1536 << 20: "1536MiB", 4097: "4097", 0: "0"} {
		if got := v.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", uint64(v), got, want)
		}
	}
}
