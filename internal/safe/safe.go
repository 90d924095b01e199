// Package safe runs background goroutines so that a panic in one is
// recovered and logged, as the server does for a request handler, instead of
// taking the whole process down. It sits at the bottom of the layers (it
// imports only the standard library) so every package can use it.
//
// A recovered panic is a bug: it is logged at ERROR with the goroutine's name
// and the stack. Deferred calls inside the panicking function still run
// (unlocks, WaitGroup.Done, closing a done channel) before the recovery, so
// the usual `defer` discipline is what keeps the rest of the process sound.
package safe

import (
	"log/slog"
	"runtime/debug"
	"time"
)

// RestartDelay is how long Loop waits before running a panicked loop again.
const RestartDelay = time.Second

// Recover, deferred at the top of a goroutine, recovers a panic and logs it
// with name. log may be nil (slog.Default). It reports nothing; use Run to
// learn whether fn panicked.
func Recover(log *slog.Logger, name string) {
	if v := recover(); v != nil {
		logPanic(log, name, v)
	}
}

// Run calls fn, recovering and logging a panic; it reports whether fn
// returned normally.
func Run(log *slog.Logger, name string, fn func()) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			logPanic(log, name, v)
			ok = false
		}
	}()
	fn()
	return true
}

// Go runs fn on a new goroutine under Run.
func Go(log *slog.Logger, name string, fn func()) {
	go Run(log, name, fn) // safe: Run recovers
}

// Func wraps fn for a callback run on its own goroutine (time.AfterFunc):
// the returned function calls fn under Run.
func Func(log *slog.Logger, name string, fn func()) func() {
	return func() { Run(log, name, fn) }
}

// Loop runs a long-lived loop on the calling goroutine: it calls fn, and if
// fn panics, logs it and calls fn again after RestartDelay, until fn returns
// normally or stop is closed. fn must return when stop is closed.
func Loop(log *slog.Logger, name string, stop <-chan struct{}, fn func()) {
	for !Run(log, name, fn) {
		t := time.NewTimer(RestartDelay)
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C:
		}
		logger(log).Warn("restarting background loop after a panic", "goroutine", name)
	}
}

func logPanic(log *slog.Logger, name string, v any) {
	logger(log).Error("panic in background goroutine", "goroutine", name, "panic", v, "stack", string(debug.Stack()))
}

func logger(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.Default()
	}
	return log
}
