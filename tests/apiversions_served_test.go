package tests

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/broker"
)

// TestEveryAdvertisedVersionIsServed sends each API the broker advertises
// at every version in its advertised range (an empty request, as kmsg
// builds it) and checks the broker answers at that version, keeps the
// connection, and never answers UNSUPPORTED_VERSION for a version it
// advertised (the registry and the handlers agree).
func TestEveryAdvertisedVersionIsServed(t *testing.T) {
	n := startNode(t, "", nil)
	for _, k := range broker.AdvertisedAPIs() {
		switch kmsg.Key(k.ApiKey) {
		case kmsg.SASLHandshake, kmsg.SASLAuthenticate:
			continue // a plaintext listener refuses SASL by closing (tests/sasl_test.go)
		}
		w := dial(t, n.Addr())
		for v := k.MinVersion; v <= k.MaxVersion; v++ {
			req := kmsg.RequestForKey(k.ApiKey)
			switch r := req.(type) {
			case *kmsg.ProduceRequest:
				r.Acks = -1 // acks=0 is answered with nothing
			case *kmsg.FetchRequest:
				r.MaxWaitMillis = 0
			case *kmsg.ShareFetchRequest:
				r.MaxWaitMillis = 0
			}
			resp := w.roundTrip(req, v)
			if resp.GetVersion() != v {
				t.Errorf("%s v%d answered at v%d", kmsg.NameForKey(k.ApiKey), v, resp.GetVersion())
			}
			if path, ok := findErrorCode(reflect.ValueOf(resp), kerr.UnsupportedVersion.Code, "resp"); ok {
				t.Errorf("%s v%d is advertised but answered UNSUPPORTED_VERSION at %s", kmsg.NameForKey(k.ApiKey), v, path)
			}
		}
	}
}

// findErrorCode reports the first ErrorCode field in v equal to code.
func findErrorCode(v reflect.Value, code int16, path string) (string, bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return "", false
		}
		return findErrorCode(v.Elem(), code, path)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if f.Name == "ErrorCode" && f.Type.Kind() == reflect.Int16 && v.Field(i).Int() == int64(code) {
				return path + "." + f.Name, true
			}
			if p, ok := findErrorCode(v.Field(i), code, path+"."+f.Name); ok {
				return p, true
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return "", false
		}
		for i := 0; i < v.Len(); i++ {
			if p, ok := findErrorCode(v.Index(i), code, path); ok {
				return p, true
			}
		}
	}
	return "", false
}
