package xlog

import "testing"

func TestValidate(t *testing.T) {
	cases := []struct {
		cfg   Config
		valid bool
	}{
		{DefaultConfig(), true},
		{Config{Level: "warn", Format: "json"}, true},
		{Config{Level: "loud", Format: "json"}, false},
		{Config{Level: "info", Format: "xml"}, false},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		if (err == nil) != c.valid {
			t.Errorf("%+v: Validate() = %v, want valid=%v", c.cfg, err, c.valid)
		}
		lg, err := New(c.cfg)
		if (err == nil) != c.valid || (c.valid && lg == nil) {
			t.Errorf("%+v: New() = %v, %v", c.cfg, lg, err)
		}
	}
}

func TestOrNop(t *testing.T) {
	OrNop(nil).Info("nothing happens")
	lg, _ := New(DefaultConfig())
	if OrNop(lg) != lg {
		t.Fatal("OrNop replaced a real logger")
	}
}
