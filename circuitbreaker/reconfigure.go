package circuitbreaker

import (
	"context"
	"fmt"
)

// Reconfigure applies cfg's state-machine settings while calls run:
// FailureRateThreshold, MinimumCalls, ConsecutiveFailures,
// SlowCallRateThreshold, the open wait (OpenWait, OpenWaitMultiplier,
// MaxOpenWait, OpenWaitJitter), the half-open probes (HalfOpenCalls,
// HalfOpenSuccesses, MaxHalfOpenWait) and DryRun. Zero fields take their
// defaults, as in New, and cfg is checked as New checks it; an invalid cfg
// is refused with the settings left as they were.
//
// The state is kept: the window's calls and the failure streak still
// count, so a threshold the window already meets trips a closed breaker at
// once (reported as a StateChange with a background context), and a looser
// one lets it go on. An open breaker keeps the wait it tripped with; a
// half-open one finishes its round of probes under the old counts; the new
// open wait and probe counts apply from the next trip.
//
// Window and SlowCallDuration shape the hot path and are fixed at New: a
// cfg with others is refused, naming the field. The functions and
// collaborators given to New (Name, Observer, Clock, IsFailure, IsIgnored)
// stay; cfg's are not read. Safe to call during calls.
func (b *Breaker) Reconfigure(cfg Config) error {
	b.lock()
	defer b.unlockAndDeliver()
	n := cfg.withDefaults()
	if n.Window != b.cfg.Window {
		return fmt.Errorf("circuitbreaker: Config.Window is fixed at New: the breaker runs with %v, got %v", b.cfg.Window, n.Window)
	}
	if n.SlowCallDuration != b.cfg.SlowCallDuration {
		return fmt.Errorf("circuitbreaker: Config.SlowCallDuration is fixed at New: the breaker runs with %v, got %v", b.cfg.SlowCallDuration, n.SlowCallDuration)
	}
	if err := n.validate(); err != nil {
		return err
	}
	// Field by field, under the lock that every reader of these fields
	// holds; the fields read without it (Name, the classifiers) stay.
	c := &b.cfg
	c.FailureRateThreshold, c.MinimumCalls, c.ConsecutiveFailures = n.FailureRateThreshold, n.MinimumCalls, n.ConsecutiveFailures
	c.SlowCallRateThreshold = n.SlowCallRateThreshold
	c.OpenWait, c.OpenWaitMultiplier, c.MaxOpenWait, c.OpenWaitJitter = n.OpenWait, n.OpenWaitMultiplier, n.MaxOpenWait, n.OpenWaitJitter
	c.HalfOpenCalls, c.HalfOpenSuccesses, c.MaxHalfOpenWait = n.HalfOpenCalls, n.HalfOpenSuccesses, n.MaxHalfOpenWait
	c.DryRun = n.DryRun
	b.fixed.Store(b.newFixed(n.OpenWait, n.DryRun))
	b.openErr.Store(nil) // its cached event carries the old DryRun
	if wordState(b.word.Load()) == StateClosed {
		b.evaluate(context.Background(), b.callNow())
	}
	return nil
}

// Settings returns the Config the breaker runs with now: New's, zero fields
// spelled out, with the settings of the last successful Reconfigure.
func (b *Breaker) Settings() Config {
	b.lock()
	defer b.mu.Unlock()
	return b.cfg
}
