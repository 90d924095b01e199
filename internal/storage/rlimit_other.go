//go:build !unix

package storage

func nofileLimit() int { return 0 }
