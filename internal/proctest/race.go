//go:build race

package proctest

// raceEnabled says that this test binary runs with the race detector, so
// the commands it builds do too.
const raceEnabled = true
