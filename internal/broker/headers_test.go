package broker

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestHandlerFileHeaders keeps each API file's header true: every served
// API is handled in a file named NN_*.go, NN being the lowest key the file
// serves, whose header comment names it "(key N)" with the versions the
// registry serves ("versions MIN-MAX", or "version N" for one) as the
// first versions after that mention.
func TestHandlerFileHeaders(t *testing.T) {
	fileKeys := map[string][]int16{}
	for key, a := range apis {
		fn := runtime.FuncForPC(reflect.ValueOf(a.fn).Pointer())
		file, _ := fn.FileLine(fn.Entry())
		base := filepath.Base(file)
		fileKeys[base] = append(fileKeys[base], key)
		src, err := os.ReadFile(base)
		if err != nil {
			t.Errorf("key %d: %v", key, err)
			continue
		}
		header := string(src[:strings.Index(string(src), "\npackage ")])
		header = strings.Join(strings.Fields(strings.ReplaceAll(header, "//", " ")), " ")
		mention := fmt.Sprintf("(key %d)", key)
		i := strings.Index(header, mention)
		if i < 0 {
			t.Errorf("%s serves key %d but its header does not name %q", base, key, mention)
			continue
		}
		m := regexp.MustCompile(`versions? (\d+)(?:-(\d+))?`).FindStringSubmatch(header[i:])
		want := fmt.Sprintf("%d-%d", a.min, a.max)
		got := ""
		if m != nil {
			got = m[1] + "-" + m[1]
			if m[2] != "" {
				got = m[1] + "-" + m[2]
			}
		}
		if got != want {
			t.Errorf("%s: header says key %d is served at versions %q, the registry at %s", base, key, got, want)
		}
	}
	for file, keys := range fileKeys {
		lowest := keys[0]
		for _, k := range keys {
			lowest = min(lowest, k)
		}
		prefix, _, _ := strings.Cut(file, "_")
		if n, err := strconv.Atoi(prefix); err != nil || int16(n) != lowest {
			t.Errorf("%s serves keys %v: its name should start with %02d_", file, keys, lowest)
		}
	}
}
