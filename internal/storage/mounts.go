package storage

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// A data dir on a file system mounted with online discard ("-o discard",
// ext4 and XFS) trims a deleted file's blocks inside the journal commit
// that frees them, and every fdatasync waiting on that commit waits for
// the trim: deleting a segment stalls acks=all answers (docs/DURABILITY.md
// measures it). OpenManager warns about it once; nothing else changes.

// discardMount reports whether dir is on a mount whose options include
// "discard", given the text of /proc/self/mountinfo (proc(5)): the mount
// point that is the longest prefix of dir decides, and of mounts on the
// same point the last, which hides the ones before it. dir must be
// absolute and clean.
func discardMount(mountinfo []byte, dir string) (mountPoint, fsType string, discard bool) {
	best := -1
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
		f := strings.Fields(sc.Text())
		sep := slices.Index(f, "-")
		if sep < 6 || len(f) < sep+4 {
			continue
		}
		mp := unescapeMount(f[4])
		if !within(dir, mp) || len(mp) < best {
			continue
		}
		best = len(mp)
		opts := strings.Split(f[5]+","+f[sep+3], ",")
		mountPoint, fsType, discard = mp, f[sep+1], slices.Contains(opts, "discard")
	}
	return mountPoint, fsType, discard
}

// within reports whether path is mp or below it.
func within(path, mp string) bool {
	if mp == "/" {
		return strings.HasPrefix(path, "/")
	}
	return path == mp || strings.HasPrefix(path, mp+"/")
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, \011,
// \012, \134); anything else is kept as it is.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// dirMount finds dir's mount in /proc/self/mountinfo (dir made absolute,
// symlinks resolved); ok is false where that file cannot be read (not
// Linux).
func dirMount(dir string) (mountPoint, fsType string, discard, ok bool) {
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", "", false, false
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", "", false, false
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	mountPoint, fsType, discard = discardMount(info, filepath.Clean(abs))
	return mountPoint, fsType, discard, true
}

// warnDiscard logs a warning when dir is on a mount with online discard.
func (m *Manager) warnDiscard(dir string) {
	if mp, fs, discard, _ := dirMount(dir); discard {
		m.logger.Warn("the data dir is on a file system mounted with discard: deleting segments (retention, deleted topics) stalls fsync, and acks=all answers with it; mount it without discard and trim periodically (fstrim)",
			"dir", dir, "mount", mp, "fstype", fs)
	}
}
