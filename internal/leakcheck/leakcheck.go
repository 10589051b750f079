// Package leakcheck fails a test that leaves goroutines running. The core
// module may not depend on go.uber.org/goleak (it keeps to four
// dependencies), so its packages use this; adapter modules may use goleak.
package leakcheck

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Check records the goroutines running now and, when the test ends, fails it
// if others are still running. Goroutines get up to five seconds to exit (a
// goroutine returning after its owner's Close is still on its way out for a
// moment). Do not use it in tests that call t.Parallel: their neighbours'
// goroutines would count.
func Check(t testing.TB) {
	t.Helper()
	before := ids(stacks())
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		var leaked []string
		for {
			leaked = leaked[:0]
			for _, g := range stacks() {
				if !before[id(g)] && !ignored(g) {
					leaked = append(leaked, g)
				}
			}
			if len(leaked) == 0 || time.Now().After(deadline) {
				break
			}
			runtime.Gosched()
			time.Sleep(10 * time.Millisecond)
		}
		if len(leaked) > 0 {
			t.Errorf("leakcheck: %d goroutine(s) still running after the test:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
	})
}

func stacks() []string {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		out = append(out, string(g))
	}
	return out
}

// id returns the "goroutine N" prefix of a stack.
func id(stack string) string {
	if i := strings.Index(stack, " ["); i > 0 {
		return stack[:i]
	}
	return stack
}

func ids(all []string) map[string]bool {
	m := make(map[string]bool, len(all))
	for _, g := range all {
		m[id(g)] = true
	}
	return m
}

// ignored reports goroutines that belong to the test runner or runtime, not
// to the code under test.
func ignored(stack string) bool {
	for _, s := range []string{
		"leakcheck.stacks(",     // this check itself
		"testing.(*T).Run(",     // the test framework
		"testing.tRunner(",      // the test's own goroutine and its siblings
		"testing.(*M).",         // the main test goroutine
		"runtime.goexit0",       // a goroutine already exiting
		"os/signal.signal_recv", // signal handling started by the runtime
	} {
		if strings.Contains(stack, s) {
			return true
		}
	}
	return false
}
