package leakcheck_test

import (
	"testing"

	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/stretchr/testify/assert"
)

// recorder captures Errorf and Cleanup calls of the check under test.
type recorder struct {
	testing.TB
	cleanups []func()
	failed   bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Cleanup(f func())      { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(string, ...any) { r.failed = true }

func TestCheckPassesWhenGoroutinesExit(t *testing.T) {
	r := &recorder{}
	leakcheck.Check(r)
	done := make(chan struct{})
	go func() { close(done) }()
	<-done
	r.cleanups[0]()
	assert.False(t, r.failed)
}

func TestCheckReportsALeak(t *testing.T) {
	if testing.Short() {
		t.Skip("waits the full five seconds for the leak to end")
	}
	r := &recorder{}
	leakcheck.Check(r)
	stop := make(chan struct{})
	go func() { <-stop }()
	r.cleanups[0]()
	close(stop)
	assert.True(t, r.failed)
}
