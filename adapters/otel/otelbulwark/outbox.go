package otelbulwark

import (
	"context"
	"time"

	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/outbox"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// InstrumentRelay makes cfg's relay count what becomes of the messages it
// publishes: bulwark.outbox.published_messages, retried_messages and
// dead_lettered_messages (the last two with the error.type of the publish
// error), each with bulwark.name set to name and messaging.destination.name
// set to the message's Topic; and it records each published message's
// bulwark.outbox.publish_lag, from its CreatedAt to the moment its
// publication was recorded, on cfg.Clock. The hooks cfg already has run
// after the recording.
func (t *Telemetry) InstrumentRelay(name string, cfg *outbox.Config) {
	clk := clock.OrSystem(cfg.Clock)
	onPublished, onRetry, onDead := cfg.OnPublished, cfg.OnRetry, cfg.OnDeadLetter
	cfg.OnPublished = func(msg outbox.Message) {
		opt := metric.WithAttributes(nameKey.String(name), semconv.MessagingDestinationName(msg.Topic))
		t.inst.obPublished.Add(background, 1, opt)
		if !msg.CreatedAt.IsZero() {
			t.inst.obPublishLag.Record(background, max(clk.Now().Sub(msg.CreatedAt), 0).Seconds(), opt)
		}
		if onPublished != nil {
			onPublished(msg)
		}
	}
	cfg.OnRetry = func(msg outbox.Message, attempts int, err error, retryAt time.Time) {
		t.inst.obRetried.Add(background, 1, messageFailure(name, msg, err))
		if onRetry != nil {
			onRetry(msg, attempts, err, retryAt)
		}
	}
	cfg.OnDeadLetter = func(msg outbox.Message, attempts int, err error) {
		t.inst.obDeadLettered.Add(background, 1, messageFailure(name, msg, err))
		if onDead != nil {
			onDead(msg, attempts, err)
		}
	}
}

func messageFailure(name string, msg outbox.Message, err error) metric.MeasurementOption {
	return metric.WithAttributes(nameKey.String(name), semconv.MessagingDestinationName(msg.Topic),
		errorTypeKey.String(ErrorType(err)))
}

// ObserveRelay reports r's store when metrics are collected: the messages
// not yet published (bulwark.outbox.backlog), the age of the oldest of them
// (bulwark.outbox.lag, in seconds, 0 with no backlog) and the dead letters
// (bulwark.outbox.dead_letters), with bulwark.name set to name. Each
// collection reads the store once (Relay.Stats), with the collection's
// context; a failed read reports nothing and returns its error to the
// reader. Unregister the returned registration when r is no longer used.
func (t *Telemetry) ObserveRelay(name string, r *outbox.Relay) (metric.Registration, error) {
	opt := fixed(name)
	in := &t.inst
	return t.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		st, err := r.Stats(ctx)
		if err != nil {
			return err
		}
		o.ObserveInt64(in.obBacklog, int64(st.Backlog), opt.observe...)
		o.ObserveFloat64(in.obLag, st.Lag.Seconds(), opt.observe...)
		o.ObserveInt64(in.obDeadLetters, int64(st.DeadLetters), opt.observe...)
		return nil
	}, in.obBacklog, in.obLag, in.obDeadLetters)
}
