package nodebench

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// makeBenchDir makes a fresh directory under parent. Its cleanup removes
// it with everything in it, then the parents it had to create, as long as
// nothing else was put in them. (extentbench has the same helper,
// unexported.)
func makeBenchDir(parent string) (dir string, cleanup func() error, err error) {
	abs, err := filepath.Abs(parent)
	if err != nil {
		return "", nil, fmt.Errorf("bench directory %s: %w", parent, err)
	}
	var created []string // deepest first
	for current := abs; ; current = filepath.Dir(current) {
		if _, err := os.Stat(current); err == nil || filepath.Dir(current) == current {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", nil, fmt.Errorf("bench directory: %w", err)
		}
		created = append(created, current)
	}
	removeCreated := func() {
		for _, d := range created {
			if os.Remove(d) != nil {
				return // not empty: someone else uses it
			}
		}
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", nil, fmt.Errorf("make bench parent directory: %w", err)
	}
	if dir, err = os.MkdirTemp(abs, "node-bench-"); err != nil {
		removeCreated()
		return "", nil, fmt.Errorf("make bench directory: %w", err)
	}
	cleanup = func() error {
		defer removeCreated()
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove bench directory: %w", err)
		}
		return nil
	}
	return dir, cleanup, nil
}
