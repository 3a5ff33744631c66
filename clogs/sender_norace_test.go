//go:build !race

package clogs

const raceEnabled = false
