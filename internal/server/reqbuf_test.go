package server

import "testing"

// Request frames are pooled by size class: a frame is at most a quarter
// larger than its request and goes back to the class it was allocated
// for; frames outside the classes are exact and not pooled.
func TestRequestBufClasses(t *testing.T) {
	prev := 0
	for c := range requestClasses {
		n := minPooledRequest
		if c > 0 {
			n = prev + 1
		}
		got, size := requestClass(n)
		if got != c || size < n || size > n+n/4 && c > 0 {
			t.Fatalf("requestClass(%d) = %d, %d; want class %d", n, got, size, c)
		}
		if g, s := requestClass(size); g != c || s != size {
			t.Fatalf("requestClass(%d) = %d, %d; want %d, %d", size, g, s, c, size)
		}
		prev = size
	}
	if prev != maxPooledRequest {
		t.Fatalf("last class %d, want %d", prev, maxPooledRequest)
	}
	for _, n := range []int{1, 4095, 4096, 4097, 65 << 10, 1 << 20, 1<<20 + 1, 18185710, maxPooledRequest, maxPooledRequest + 1} {
		for range 3 {
			b := getRequestBuf(n)
			c, size := requestClass(n)
			switch {
			case len(b) != n:
				t.Fatalf("getRequestBuf(%d): len %d", n, len(b))
			case c < 0 && cap(b) != n:
				t.Fatalf("getRequestBuf(%d): cap %d, want exact", n, cap(b))
			case c >= 0 && cap(b) != size:
				t.Fatalf("getRequestBuf(%d): cap %d, want %d", n, cap(b), size)
			}
			putRequestBuf(b)
		}
	}
}
