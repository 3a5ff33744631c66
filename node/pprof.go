package node

import (
	"net/http"
	"net/http/pprof"
)

// handleProfiles serves Go's runtime profiles under /debug/pprof/ on the
// metrics address, as etcd does, so that a running node can be profiled
// under load (`go tool pprof http://<--http>/debug/pprof/profile`).
func handleProfiles(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}
