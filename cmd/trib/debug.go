package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"

	"github.com/spf13/cobra"
)

// debugListen is the global --debug-listen flag: when set, every trib
// command (broker and dev included) serves net/http/pprof on that address
// for as long as it runs. Off by default; bind it to loopback.
var debugListen string

func init() {
	root.PersistentFlags().StringVar(&debugListen, "debug-listen", "", "serve net/http/pprof on HOST:PORT (e.g. 127.0.0.1:6060) while running")
	cobra.OnInitialize(func() {
		if debugListen == "" {
			return
		}
		if err := StartDebugServer(debugListen); err != nil {
			fmt.Fprintln(os.Stderr, "trib: --debug-listen:", err)
			os.Exit(1)
		}
	})
}

// StartDebugServer serves the pprof handlers under /debug/pprof/ on addr in
// the background. It returns once the listener is bound.
func StartDebugServer(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go http.Serve(ln, mux) //nolint:errcheck // lives as long as the process
	return nil
}
