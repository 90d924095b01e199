package storage

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// mountinfo as Linux writes it (proc(5)): this machine's root line, a
// tmpfs, an XFS data mount without discard below a discard one, a mount
// point with an escaped space, and two mounts on one point.
const testMountinfo = `27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
30 27 0:26 / /tmp rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,size=1048576k
40 27 259:1 / /data rw,noatime shared:7 - xfs /dev/nvme0n1 rw,attr2,inode64,discard
41 40 259:2 / /data/kafka rw,noatime shared:8 - xfs /dev/nvme1n1 rw,attr2,inode64,noquota
42 27 259:3 / /mnt/my\040disk rw,relatime - ext4 /dev/sdb rw,discard
44 27 259:5 / /stack rw,relatime - ext4 /dev/sdc rw,discard
45 27 259:6 / /stack rw,relatime - xfs /dev/sdd rw,attr2
bad line
43 27 259:4 / /short rw -
`

func TestDiscardMount(t *testing.T) {
	for _, c := range []struct {
		dir, mount, fs string
		discard        bool
	}{
		{"/var/lib/trib", "/", "ext4", true},
		{"/", "/", "ext4", true},
		{"/tmp/x", "/tmp", "tmpfs", false},
		{"/tmpfoo", "/", "ext4", true}, // /tmp is not a prefix of /tmpfoo
		{"/data/logs", "/data", "xfs", true},
		{"/data/kafka/logs", "/data/kafka", "xfs", false},
		{"/data/kafka", "/data/kafka", "xfs", false},
		{"/mnt/my disk/d", "/mnt/my disk", "ext4", true},
		{"/short/d", "/", "ext4", true},      // its line is malformed: skipped
		{"/stack/d", "/stack", "xfs", false}, // the later mount hides the first
	} {
		mp, fs, discard := discardMount([]byte(testMountinfo), c.dir)
		if mp != c.mount || fs != c.fs || discard != c.discard {
			t.Errorf("%s: mount %q %q discard %v, want %q %q %v", c.dir, mp, fs, discard, c.mount, c.fs, c.discard)
		}
	}
	if mp, _, discard := discardMount(nil, "/x"); mp != "" || discard {
		t.Errorf("no mountinfo: %q %v", mp, discard)
	}
}

// The warning goes to the manager's log exactly when the data dir is on a
// discard mount (this machine's root file system is one).
func TestWarnDiscardLogs(t *testing.T) {
	dir := t.TempDir()
	_, _, discard, ok := dirMount(dir)
	if !ok {
		t.Skip("no /proc/self/mountinfo")
	}
	var buf bytes.Buffer
	m := &Manager{logger: slog.New(slog.NewTextHandler(&buf, nil))}
	m.warnDiscard(dir)
	if got := strings.Contains(buf.String(), "mounted with discard"); got != discard {
		t.Fatalf("warned %v, want %v (discard on the mount of %s): %s", got, discard, dir, buf.String())
	}
}

func FuzzDiscardMount(f *testing.F) {
	f.Add([]byte(testMountinfo), "/data/kafka/x")
	f.Add([]byte("1 2 3 / /a\\04 rw - ext4 x discard\n"), "/a")
	f.Fuzz(func(t *testing.T, info []byte, dir string) {
		mp, _, _ := discardMount(info, dir)
		if mp != "" && !within(dir, mp) {
			t.Fatalf("mount %q is not above %q", mp, dir)
		}
	})
}
