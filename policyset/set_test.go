package policyset_test

import (
	"context"
	"errors"
	"github.com/bulwark-go/bulwark/internal/loadtest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/bulkhead"
	"github.com/bulwark-go/bulwark/circuitbreaker"
	"github.com/bulwark-go/bulwark/policyset"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var errDown = errors.New("down")

func parse(t *testing.T, doc string) *policyset.Document {
	t.Helper()
	d, err := policyset.Parse([]byte(doc))
	require.NoError(t, err)
	return d
}

func newSet(t *testing.T, doc string) *policyset.Set {
	t.Helper()
	s, err := policyset.New(parse(t, doc), policyset.Config{})
	require.NoError(t, err)
	return s
}

func policy(t *testing.T, s *policyset.Set, name string) *policyset.Policy {
	t.Helper()
	p, err := s.Policy(name)
	require.NoError(t, err)
	return p
}

const inventory = `{"policies": {"inventory": {
	"retry": {"max_attempts": 5, "backoff": {"type": "constant", "delay": "0s"}},
	"circuit_breaker": {"consecutive_failures": 2, "open_wait": "1h"}
}}}`

// The chain runs retry outermost: each attempt passes the breaker, and the
// breaker's rejection stops the retries.
func TestChainOrderRetryOutsideTheBreaker(t *testing.T) {
	p := policy(t, newSet(t, inventory), "inventory")
	calls := 0
	err := p.Do(context.Background(), func(context.Context) error { calls++; return errDown })
	assert.ErrorIs(t, err, circuitbreaker.ErrOpen)
	assert.Equal(t, 2, calls, "two failures open the breaker; its rejection ends the retries")
}

func TestApplyKeepsAPartsState(t *testing.T) {
	s := newSet(t, inventory)
	p := policy(t, s, "inventory")
	_ = p.Do(context.Background(), func(context.Context) error { return errDown })
	before := p.Parts().CircuitBreaker
	require.Equal(t, circuitbreaker.StateOpen, before.State())

	require.NoError(t, s.Apply(parse(t, strings.Replace(inventory, `"1h"`, `"2h"`, 1))))
	after := p.Parts().CircuitBreaker
	assert.Same(t, before, after, "reconfigured in place")
	assert.Equal(t, circuitbreaker.StateOpen, after.State())
	assert.Equal(t, 2*time.Hour, after.Settings().OpenWait)
}

func TestApplyReplacesAPartWhoseFixedSettingChanged(t *testing.T) {
	s := newSet(t, inventory)
	p := policy(t, s, "inventory")
	_ = p.Do(context.Background(), func(context.Context) error { return errDown })
	before := p.Parts().CircuitBreaker
	require.NoError(t, s.Apply(parse(t, strings.Replace(inventory, `"consecutive_failures": 2`, `"consecutive_failures": 2, "window_calls": 7`, 1))))
	after := p.Parts().CircuitBreaker
	assert.NotSame(t, before, after)
	assert.Equal(t, circuitbreaker.StateClosed, after.State(), "a new breaker starts closed")
	assert.Equal(t, circuitbreaker.LastCalls(7), after.Settings().Window)
}

func TestApplyAddsAndRemovesParts(t *testing.T) {
	s := newSet(t, `{"policies": {"a": {}}}`)
	p := policy(t, s, "a")
	require.NoError(t, s.Apply(parse(t, `{"policies": {"a": {"bulkhead": {"max_concurrent": 1}}}}`)))
	release := make(chan struct{})
	started := make(chan struct{})
	go func() {
		_ = p.Do(context.Background(), func(context.Context) error { close(started); <-release; return nil })
	}()
	<-started
	assert.ErrorIs(t, p.Do(context.Background(), func(context.Context) error { return nil }), bulkhead.ErrFull)
	close(release)

	require.NoError(t, s.Apply(parse(t, `{"policies": {"a": {}}}`)))
	assert.Nil(t, p.Parts().Bulkhead)
}

// A document is applied whole or not at all: a bad setting in one name
// leaves every name as it was.
func TestApplyIsAllOrNothing(t *testing.T) {
	s := newSet(t, `{"policies": {"a": {"timeout": {"timeout": "1s"}}, "b": {"timeout": {"timeout": "1s"}}}}`)
	err := s.Apply(parse(t, `{"policies": {"a": {"timeout": {"timeout": "5s"}}, "b": {"timeout": {"timeout": "-1s"}}}}`))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "policies.b.timeout")
	assert.Contains(t, err.Error(), "Config.Timeout")
	assert.Equal(t, time.Second, policy(t, s, "a").Parts().Timeout.Settings().Timeout)
}

func TestApplyRefusesToDropAName(t *testing.T) {
	s := newSet(t, `{"policies": {"a": {}, "b": {}}}`)
	err := s.Apply(parse(t, `{"policies": {"a": {}}}`))
	assert.ErrorContains(t, err, "policies.b")
	assert.Equal(t, []string{"a", "b"}, s.Names())
	require.NoError(t, s.Apply(parse(t, `{"policies": {"a": {}, "b": {}, "c": {}}}`)))
	assert.Equal(t, []string{"a", "b", "c"}, s.Names())
}

func TestPolicyOfAnUnknownName(t *testing.T) {
	_, err := newSet(t, `{"policies": {}}`).Policy("nope")
	assert.ErrorIs(t, err, policyset.ErrUnknown)
}

func TestParseNamesWhatIsWrong(t *testing.T) {
	for doc, want := range map[string]string{
		`{"policies": {"a": {"bulkhead": {"max_concurent": 3}}}}`:    "max_concurent",
		`{"policies": {"a": {"bulkhead": {"max_concurrent": "3"}}}}`: "policies.a.bulkhead.max_concurrent",
		`{"policies": {"a": {"timeout": {"timeout": "soon"}}}}`:      "soon",
		`{"policies": {}} {}`: "after the document",
		`{}`:                  "no \"policies\"",
		`{"policies": {"a": {"rate_limit": {"algorithm": "leaky"}}}}`:  "",
		`{"policies": {"a": {"retry": {"backoff": {"type": "fib"}}}}}`: "",
	} {
		d, err := policyset.Parse([]byte(doc))
		if want == "" {
			require.NoError(t, err, doc)
			_, err = policyset.New(d, policyset.Config{})
			require.Error(t, err, doc)
			assert.Contains(t, err.Error(), "policies.a.", doc)
			continue
		}
		require.Error(t, err, doc)
		assert.Contains(t, err.Error(), want, doc)
	}
}

// Settings change under load: every call completes under one version of
// the chain, and when the load stops the bulkhead has every permit back.
func TestApplyUnderLoad(t *testing.T) {
	docs := []*policyset.Document{
		parse(t, `{"policies": {"a": {"bulkhead": {"max_concurrent": 4}, "timeout": {"timeout": "1s"}, "rate_limit": {"limit": 1000000}}}}`),
		parse(t, `{"policies": {"a": {"bulkhead": {"max_concurrent": 8}, "timeout": {"timeout": "2s"}, "rate_limit": {"limit": 2000000}}}}`),
	}
	s, err := policyset.New(docs[0], policyset.Config{})
	require.NoError(t, err)
	p := policy(t, s, "a")
	var ok, rejected atomic.Int64
	loadtest.While(8, func() {
		err := p.Do(context.Background(), func(context.Context) error { return nil })
		switch {
		case err == nil:
			ok.Add(1)
		case errors.Is(err, bulwark.ErrRejected):
			rejected.Add(1)
		default:
			t.Errorf("call failed: %v", err)
			return
		}
	}, func() {
		for i := range 500 {
			require.NoError(t, s.Apply(docs[i%2]))
		}
	})
	assert.NotZero(t, ok.Load())
	b := p.Parts().Bulkhead
	assert.Zero(t, b.InFlight())
	assert.Equal(t, 8, b.Limit(), "the last document applied")
}
