package policyset_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/configsource"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/bulwark-go/bulwark/policyset"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// events collects a set's Applied and Refused events.
type events struct {
	mu  sync.Mutex
	all []bulwark.Event
}

func (e *events) Observe(_ context.Context, ev bulwark.Event) {
	switch ev.(type) {
	case policyset.Applied, policyset.Refused:
		e.mu.Lock()
		e.all = append(e.all, ev)
		e.mu.Unlock()
	}
}

func (e *events) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.all)
}

func (e *events) last() bulwark.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.all[len(e.all)-1]
}

func write(t *testing.T, path, data string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path+".tmp", []byte(data), 0o600))
	require.NoError(t, os.Rename(path+".tmp", path))
}

// Run applies each version of the file; a bad one is refused and the
// settings stay.
func TestRunFollowsTheSource(t *testing.T) {
	leakcheck.Check(t)
	path := filepath.Join(t.TempDir(), "policies.json")
	write(t, path, `{"policies": {"a": {"timeout": {"timeout": "1s"}}}}`)
	src, err := configsource.NewFile(path, configsource.FileConfig{Interval: 5 * time.Millisecond})
	require.NoError(t, err)
	var ev events
	doc := parse(t, `{"policies": {"a": {"timeout": {"timeout": "9s"}}}}`)
	s, err := policyset.New(doc, policyset.Config{Name: "svc", Source: src, Observer: &ev})
	require.NoError(t, err)
	p := policy(t, s, "a")
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()

	timeoutOf := func() time.Duration { return p.Parts().Timeout.Settings().Timeout }
	require.Eventually(t, func() bool { return timeoutOf() == time.Second }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return ev.count() == 1 }, 5*time.Second, time.Millisecond)
	assert.IsType(t, policyset.Applied{}, ev.last())

	write(t, path, `{"policies": {"a": {"timeout": {"timeout": "-3s"}}}}`)
	require.Eventually(t, func() bool { return ev.count() == 2 }, 5*time.Second, time.Millisecond)
	refused, ok := ev.last().(policyset.Refused)
	require.True(t, ok)
	assert.ErrorContains(t, refused.Err, "policies.a.timeout")
	assert.Equal(t, time.Second, timeoutOf(), "the refused version changed nothing")

	write(t, path, `{"policies": {"a": {"timeout": {"timeout": "3s"}}}}`)
	require.Eventually(t, func() bool { return timeoutOf() == 3*time.Second }, 5*time.Second, time.Millisecond)

	require.NoError(t, s.Close(context.Background()))
	require.NoError(t, <-done)
	assert.ErrorIs(t, s.Run(context.Background()), bulwark.ErrClosed)
}

func TestRunWithoutASource(t *testing.T) {
	s := newSet(t, `{"policies": {}}`)
	assert.ErrorContains(t, s.Run(context.Background()), "Config.Source")
}
