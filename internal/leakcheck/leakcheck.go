// Package leakcheck owns the goroutine-leak check the test packages run
// after their tests: goleak, given time for goroutines that end on their
// own a little after a clean Close (the embedded etcd's peer connections
// can take up to 5 s).
package leakcheck

import (
	"fmt"
	"os"
	"time"

	"go.uber.org/goleak"
)

// wait is how long goroutines get to end before they count as leaked.
const wait = 15 * time.Second

// AfterRun takes m.Run()'s exit code: when the tests passed it waits for
// stray goroutines to end and returns 1, after printing them, if some do
// not. Use it as os.Exit(leakcheck.AfterRun(m.Run())).
func AfterRun(code int) int {
	if code != 0 {
		return code
	}
	deadline := time.Now().Add(wait)
	for err := goleak.Find(); err != nil; err = goleak.Find() { // Find retries for about a second itself
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "goleak: goroutines left after the tests passed: %v\n", err)
			return 1
		}
		time.Sleep(250 * time.Millisecond)
	}
	return code
}
