// Package e2e holds the end-to-end tests of clogs: they build the real
// commands, run a stream manager and extent-nodes as separate processes on
// 127.0.0.1 ports with data in temporary directories, drive them with
// streamclient, kill and restart them, and check the invariants of
// DESIGN.md from the outside: acknowledged blocks survive a kill -9, read
// back exactly once and in order, and sealed replicas agree byte for byte.
// run_test.go also runs the top-level Procfile under goreman, as `make run`
// does.
//
// The package has no code of its own; it is tests only.
package e2e
