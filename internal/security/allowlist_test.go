package security

import (
	"net"
	"testing"
)

func TestAllowList(t *testing.T) {
	l, err := ParseAllowList([]string{"10.0.0.0/24", " 127.0.0.1 ", "::1", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"10.0.0.7:1":           true,
		"10.0.1.7:1":           false,
		"127.0.0.1:9092":       true,
		"127.0.0.2:9092":       false,
		"[::1]:9092":           true,
		"[::ffff:127.0.0.1]:1": true,
		"[2001:db8:1::5]:1":    true,
		"[2001:db9::5]:1":      false,
		"not an address":       false,
	} {
		tcp, _ := net.ResolveTCPAddr("tcp", addr)
		var a net.Addr = tcp
		if tcp == nil {
			a = &net.UnixAddr{Name: addr}
		}
		if got := l.Allows(a); got != want {
			t.Errorf("Allows(%s) = %v, want %v", addr, got, want)
		}
	}
	if s := l.String(); s != "10.0.0.0/24,127.0.0.1/32,::1/128,2001:db8::/32" {
		t.Errorf("String() = %q", s)
	}
	none, err := ParseAllowList([]string{"", " "})
	if err != nil || none != nil || !none.Allows(&net.TCPAddr{IP: net.IPv4(1, 2, 3, 4)}) {
		t.Errorf("empty list: %v %v", none, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "10.0.0.300", "host.example", "1.2.3.4/x", "::ffff:1.2.3.4/10"} {
		if _, err := ParseAllowList([]string{bad}); err == nil {
			t.Errorf("ParseAllowList(%q) accepted", bad)
		}
	}
}
