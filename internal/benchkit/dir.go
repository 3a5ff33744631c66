package benchkit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// MakeBenchDir makes a fresh temporary directory under parent, named
// prefix followed by a random number. Its cleanup removes that directory
// with everything in it, then those parents it had to create, if nothing
// else has been put in them.
func MakeBenchDir(parent, prefix string) (dir string, cleanup func() error, err error) {
	created, err := missingDirs(parent)
	if err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", nil, fmt.Errorf("make bench parent directory: %w", err)
	}
	dir, err = os.MkdirTemp(parent, prefix)
	if err != nil {
		removeEmptyDirs(created)
		return "", nil, fmt.Errorf("make bench directory: %w", err)
	}
	cleanup = func() error {
		defer removeEmptyDirs(created)
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove bench directory: %w", err)
		}
		return nil
	}
	return dir, cleanup, nil
}

// missingDirs returns dir and those of its parents that do not exist yet,
// deepest first.
func missingDirs(dir string) ([]string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("bench directory %s: %w", dir, err)
	}
	var missing []string
	for current := abs; ; current = filepath.Dir(current) {
		_, err := os.Stat(current)
		if err == nil || filepath.Dir(current) == current {
			return missing, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("bench directory: %w", err)
		}
		missing = append(missing, current)
	}
}

// removeEmptyDirs removes dirs, deepest first, stopping at the first one
// that is not empty: someone else uses it.
func removeEmptyDirs(dirs []string) {
	for _, dir := range dirs {
		if os.Remove(dir) != nil {
			return
		}
	}
}
