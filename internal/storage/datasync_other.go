//go:build !linux

package storage

import "os"

// datasync is fsync where fdatasync does not exist.
func datasync(f *os.File) error { return f.Sync() }
