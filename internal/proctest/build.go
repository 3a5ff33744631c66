// Package proctest runs the project's commands as real processes in tests:
// it builds a command once per test binary, starts it with arguments on
// free 127.0.0.1 ports, captures its output (shown when the test fails),
// waits until it accepts connections, and stops it with SIGTERM or SIGKILL.
//
// Every process is ended and waited for by t.Cleanup, by its PID only:
// nothing here signals processes by name. Binaries are built with -race
// when the test binary is, so that a data race in the command shows in its
// output and exit code (66) too.
//
// A package that uses Build removes the binaries at the end:
//
//	func TestMain(m *testing.M) {
//		goleak.VerifyTestMain(m, goleak.Cleanup(proctest.RemoveBuildsAndExit))
//	}
package proctest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// builds caches the binaries of this test binary, one per package and
// working directory.
var builds struct {
	mu   sync.Mutex
	dir  string            // guarded by mu; the temporary directory holding every build
	bins map[string]*build // guarded by mu
}

type build struct {
	once sync.Once
	path string
	err  error // set by once
}

// Build compiles the main package pkg (an import path, or a directory
// relative to the test's working directory such as ".") with `go build -o`
// on first use, and returns the executable's path. Later calls with the same
// pkg return the same binary, also from parallel tests. A build failure
// fails the test with the compiler's output.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	b, err := lookupBuild(pkg)
	if err != nil {
		t.Fatal(err)
	}
	b.once.Do(func() { b.err = goBuild(pkg, b.path) })
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func lookupBuild(pkg string) (*build, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("proctest: %w", err)
	}
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "proctest-bin-")
		if err != nil {
			return nil, fmt.Errorf("proctest: %w", err)
		}
		builds.dir, builds.bins = dir, make(map[string]*build)
	}
	key := wd + "\x00" + pkg
	b := builds.bins[key]
	if b == nil {
		// One directory per build, so that two packages with the same
		// last element do not overwrite each other.
		sub := fmt.Sprint(len(builds.bins))
		b = &build{path: filepath.Join(builds.dir, sub, binaryName(wd, pkg))}
		builds.bins[key] = b
	}
	return b, nil
}

// binaryName is what `go build` would call the executable of pkg.
func binaryName(wd, pkg string) string {
	if strings.HasPrefix(pkg, ".") || filepath.IsAbs(pkg) {
		return filepath.Base(filepath.Join(wd, filepath.FromSlash(pkg)))
	}
	return pkg[strings.LastIndex(pkg, "/")+1:]
}

// goBuild builds pkg into out, with -race when this test binary has it.
func goBuild(pkg, out string) error {
	args := []string{"build", "-o", out}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, pkg)
	// go test puts its own go first on PATH, so this is the toolchain
	// that built the test.
	cmd := exec.Command("go", args...)
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("proctest: go %s: %v\n%s", strings.Join(args, " "), err, output)
	}
	return nil
}

// RemoveBuilds deletes every binary Build made. Call it after the tests
// ran, from TestMain; a later Build builds again.
func RemoveBuilds() {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
		builds.dir, builds.bins = "", nil
	}
}

// RemoveBuildsAndExit removes the binaries and exits with code. It has the
// shape goleak.Cleanup wants.
func RemoveBuildsAndExit(code int) {
	RemoveBuilds()
	os.Exit(code)
}
