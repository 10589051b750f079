package strangler

import (
	"strings"
	"testing"
)

// FuzzCompareBodies: any pair of bodies compares without panicking, a body
// always equals itself, and a difference is reported with a bounded sample.
func FuzzCompareBodies(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":null}]}`), []byte(`{"a":[1,{"b":2}]}`), "a.b")
	f.Add([]byte(`text`), []byte(`{"x":1}`), "x")
	f.Add([]byte(`[1,2,3]`), []byte(`[1,2]`), "")
	f.Add([]byte("\xbc\xbc\xbc"), []byte("\xbc\xbc0"), "\xe0")
	f.Fuzz(func(t *testing.T, a, b []byte, ignore string) {
		var paths [][]string
		if ignore != "" {
			paths = append(paths, strings.Split(ignore, "."))
		}
		if d := compareBodies(a, a, paths); d != "" {
			t.Fatalf("a body differs from itself: %s", d)
		}
		if d := compareBodies(a, b, paths); len(d) > 8*maxSample+100 { // two quoted samples, each byte at most 4 characters
			t.Fatalf("sample too long: %d bytes", len(d))
		}
	})
}
