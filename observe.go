package bulwark

import (
	"context"
	"log/slog"
)

// Event is one thing a component reports to its Observer: a breaker that
// changed state, a retry, a rejected call, a published or dead-lettered
// message, a compensated saga step. Each package defines its events as
// struct types (circuitbreaker.StateChange, retry.Retried, …) and documents
// them beside its Config; an Observer switches on those types for their
// fields, or uses the methods below, which every event has.
type Event interface {
	// Kind names the event, prefixed by its package:
	// "circuitbreaker.state_change", "retry.retried". It is stable across
	// releases and suitable as a metric or span event name.
	Kind() string
	// Component is the Name given to the component in its Config, or ""
	// when it has none.
	Component() string
	// LogValue returns the event's fields as a slog group value.
	LogValue() slog.Value
}

// Observer receives a component's events. Every component with events has a
// Config.Observer of this type; nil observes nothing and costs nothing.
//
// Observe is called synchronously on the goroutine whose work caused the
// event (the caller's goroutine for a policy, the component's own for
// background work such as an outbox relay), never while the component holds
// a lock, so it may call the component's methods. ctx is the context of that
// work: the caller's context for a policy, carrying its trace span and
// values. A slow Observe slows the work that reports to it.
type Observer interface {
	Observe(ctx context.Context, e Event)
}

// ObserverFunc adapts an ordinary function to the Observer interface.
type ObserverFunc func(ctx context.Context, e Event)

// Observe calls f(ctx, e).
func (f ObserverFunc) Observe(ctx context.Context, e Event) { f(ctx, e) }

// Observers returns an Observer that passes each event to every non-nil
// observer given, in order. With none it returns nil, and with one it
// returns that one.
func Observers(observers ...Observer) Observer {
	var list []Observer
	for _, o := range observers {
		if o != nil {
			list = append(list, o)
		}
	}
	switch len(list) {
	case 0:
		return nil
	case 1:
		return list[0]
	}
	return multiObserver(list)
}

type multiObserver []Observer

func (m multiObserver) Observe(ctx context.Context, e Event) {
	for _, o := range m {
		o.Observe(ctx, e)
	}
}

// LogEvents returns an Observer that writes each event to logger at level,
// with the event's kind as the message and these attributes: "component"
// (when the component has a name) and "event", a group of the event's
// fields. A nil logger means slog.Default().
func LogEvents(logger *slog.Logger, level slog.Level) Observer {
	if logger == nil {
		logger = slog.Default()
	}
	return ObserverFunc(func(ctx context.Context, e Event) {
		if !logger.Enabled(ctx, level) {
			return
		}
		attrs := make([]slog.Attr, 0, 2)
		if name := e.Component(); name != "" {
			attrs = append(attrs, slog.String("component", name))
		}
		attrs = append(attrs, slog.Any("event", e))
		logger.LogAttrs(ctx, level, e.Kind(), attrs...)
	})
}
