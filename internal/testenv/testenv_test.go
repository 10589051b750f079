package testenv_test

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	testenv.Main(m, map[string]func(){
		"echo": func() { os.Stdout.WriteString("child says " + os.Getenv("GREETING")) },
	})
}

func TestServiceReturnsTheVariable(t *testing.T) {
	t.Setenv("BULWARK_TEST_SOMETHING", "value")
	assert.Equal(t, "value", testenv.Service(t, "BULWARK_TEST_SOMETHING"))
}

func TestServiceSkipsOrFailsWhenUnset(t *testing.T) {
	for _, tc := range []struct {
		require              string
		wantSkip, wantFailed bool
	}{
		{require: "", wantSkip: true},
		{require: "1", wantFailed: true},
	} {
		t.Run("require="+tc.require, func(t *testing.T) {
			t.Setenv(testenv.RequireVar, tc.require)
			os.Unsetenv("BULWARK_TEST_UNSET")
			skipped, failed := runInner(func(tb testing.TB) { testenv.Service(tb, "BULWARK_TEST_UNSET") })
			assert.Equal(t, tc.wantSkip, skipped)
			assert.Equal(t, tc.wantFailed, failed)
		})
	}
}

// runInner runs f against a fake testing.TB in its own goroutine (Skip and
// Fatal end it with runtime.Goexit) and reports what f did.
func runInner(f func(testing.TB)) (skipped, failed bool) {
	tb := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(tb)
	}()
	<-done
	return tb.skipped, tb.failed
}

type fakeTB struct {
	testing.TB
	skipped, failed bool
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skipf(string, ...any) {
	f.skipped = true
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(string, ...any) {
	f.failed = true
	runtime.Goexit()
}

func TestChildProcess(t *testing.T) {
	cmd := testenv.Command(t, "echo", "GREETING=hello")
	var out strings.Builder
	cmd.Stdout = &out
	require.NoError(t, cmd.Run())
	assert.Equal(t, "child says hello", out.String())
}

func TestEtcdEndpointsSplitsAtCommas(t *testing.T) {
	t.Setenv(testenv.EtcdVar, "10.0.0.1:2379, 10.0.0.2:2379,")
	assert.Equal(t, []string{"10.0.0.1:2379", "10.0.0.2:2379"}, testenv.EtcdEndpoints(t))
}
