// Package buildinfo owns how clogs commands name their version.
package buildinfo

import "runtime/debug"

// Version returns linked when it was set at link time (-ldflags
// "-X main.version=…"), else the module version and VCS revision the Go
// toolchain recorded.
func Version(linked string) string {
	if linked != "" {
		return linked
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v
}
