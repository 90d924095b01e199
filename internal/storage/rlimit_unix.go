//go:build unix

package storage

import "syscall"

// nofileLimit is the process's soft descriptor limit (Go raises it to the
// hard limit at start), or 0 if unknown.
func nofileLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	if r.Cur > 1<<17 {
		return 1 << 17 // unlimited, or as good as
	}
	return int(r.Cur)
}
