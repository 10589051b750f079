package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"go.uber.org/goleak"
)

// TestStory runs the example on a fake clock and checks the story, the
// spans and the metrics it exports.
func TestStory(t *testing.T) {
	defer goleak.VerifyNone(t)
	fake := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(context.Background(), &out, fake) }()
	for range calls - 1 {
		fake.BlockUntil(1)
		fake.Advance(interval)
	}
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	story, rest, _ := strings.Cut(out.String(), "\n"+spansHeader+"\n")
	spans, metrics, _ := strings.Cut(rest, "\n"+metricsHeader+"\n")

	want := `calling inventory every 100ms, 12 times; it is down from 300ms to 700ms

 0.00s  ok
 0.10s  ok
 0.20s  ok
        breaker inventory: closed -> open
 0.30s  retry: gave up after 2 attempts (max attempts reached): inventory: 503 service unavailable
 0.40s  retry: gave up after 1 attempt (rejected by a policy): circuitbreaker: "inventory" is open; retry after 150ms
 0.50s  retry: gave up after 1 attempt (rejected by a policy): circuitbreaker: "inventory" is open; retry after 50ms
        breaker inventory: open -> half-open
        breaker inventory: half-open -> open
 0.60s  retry: gave up after 2 attempts (rejected by a policy): circuitbreaker: "inventory" is open; retry after 250ms
 0.70s  retry: gave up after 1 attempt (rejected by a policy): circuitbreaker: "inventory" is open; retry after 150ms
 0.80s  retry: gave up after 1 attempt (rejected by a policy): circuitbreaker: "inventory" is open; retry after 50ms
        breaker inventory: open -> half-open
        breaker inventory: half-open -> closed
 0.90s  ok
 1.00s  ok
 1.10s  ok
`
	if story != want {
		t.Errorf("the example told\n%s\nwant\n%s", story, want)
	}

	// One span per call; the failed ones have an Error status, an event per
	// failed attempt, and the rejected ones bulwark.rejected. The events the
	// retry and the breaker reported during a call are events of its span.
	type attr struct {
		Key   string
		Value struct{ Value any }
	}
	type span struct {
		Name       string
		Status     struct{ Code string }
		Attributes []attr
		Events     []struct{ Name string }
	}
	var failed, rejected, total int
	events := map[string]int{}
	dec := json.NewDecoder(strings.NewReader(spans))
	for {
		var s span
		if err := dec.Decode(&s); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding spans: %v", err)
		}
		total++
		if s.Name != "inventory" {
			t.Errorf("span %q", s.Name)
		}
		if s.Status.Code == "Error" {
			failed++
		}
		for _, a := range s.Attributes {
			if a.Key == "bulwark.rejected" && a.Value.Value == true {
				rejected++
			}
		}
		for _, e := range s.Events {
			events[e.Name]++
		}
	}
	if total != calls || failed != 6 || rejected != 5 {
		t.Errorf("%d spans, %d failed, %d rejected; want 12, 6, 5", total, failed, rejected)
	}
	wantEvents := map[string]int{
		"bulwark.attempt.failed":      8,
		"retry.retried":               2,
		"retry.gave_up":               6,
		"circuitbreaker.state_change": 5,
		"circuitbreaker.rejected":     5,
	}
	if !maps.Equal(events, wantEvents) {
		t.Errorf("span events %v, want %v", events, wantEvents)
	}

	// The metrics: sums by name, and the breaker's state.
	var rm struct {
		ScopeMetrics []struct {
			Metrics []struct {
				Name string
				Data struct {
					DataPoints []struct {
						Attributes []attr
						Value      float64
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(metrics), &rm); err != nil {
		t.Fatalf("decoding metrics: %v\n%s", err, metrics)
	}
	sums := map[string]float64{}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		for _, dp := range m.Data.DataPoints {
			if m.Name == "bulwark.circuitbreaker.state" {
				if dp.Attributes[1].Value.Value == "closed" && dp.Value != 1 {
					t.Error("the breaker is not closed at the end")
				}
				continue
			}
			sums[m.Name] += dp.Value
		}
	}
	for name, want := range map[string]float64{
		"bulwark.circuitbreaker.transitions":    5,
		"bulwark.circuitbreaker.rejected_calls": 5,
		"bulwark.retry.retries":                 2,
		"bulwark.retry.give_ups":                6,
		"bulwark.bulkhead.active_calls":         0,
		"bulwark.bulkhead.limit":                4,
		"bulwark.circuitbreaker.failure_rate":   0,
	} {
		if got, ok := sums[name]; !ok || got != want {
			t.Errorf("%s: %v (exported: %v), want %v", name, got, ok, want)
		}
	}
}
