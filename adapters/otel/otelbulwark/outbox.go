package otelbulwark

import (
	"context"

	"github.com/bulwark-go/bulwark/outbox"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// published counts a published message in
// bulwark.outbox.published_messages and records its
// bulwark.outbox.publish_lag, from its CreatedAt to now on the Telemetry's
// Clock, both with messaging.destination.name set to its Topic.
func (t *Telemetry) published(ctx context.Context, e outbox.Published) {
	opt := with(e.Relay, semconv.MessagingDestinationName(e.Message.Topic))
	t.inst.obPublished.Add(ctx, 1, opt)
	if !e.Message.CreatedAt.IsZero() {
		t.inst.obPublishLag.Record(ctx, max(t.clock.Now().Sub(e.Message.CreatedAt), 0).Seconds(), opt)
	}
}

// publishFailed counts a failed publish that will be retried in
// bulwark.outbox.retried_messages.
func (t *Telemetry) publishFailed(ctx context.Context, e outbox.PublishFailed) {
	t.inst.obRetried.Add(ctx, 1, messageFailure(e.Relay, e.Message, e.Err))
}

// outboxDeadLettered counts a dead-lettered message in
// bulwark.outbox.dead_lettered_messages.
func (t *Telemetry) outboxDeadLettered(ctx context.Context, e outbox.DeadLettered) {
	t.inst.obDeadLettered.Add(ctx, 1, messageFailure(e.Relay, e.Message, e.Err))
}

func messageFailure(name string, msg outbox.Message, err error) metric.MeasurementOption {
	return with(name, semconv.MessagingDestinationName(msg.Topic), errorTypeKey.String(ErrorType(err)))
}

// ObserveRelay reports r's store when metrics are collected: the messages
// not yet published (bulwark.outbox.backlog), the age of the oldest of them
// (bulwark.outbox.lag, in seconds, 0 with no backlog) and the dead letters
// (bulwark.outbox.dead_letters), with bulwark.name set to name. Each
// collection reads the store once (Relay.Stats), with the collection's
// context; a failed read reports nothing and returns its error to the
// reader. Unregister the returned registration when r is no longer used.
func (t *Telemetry) ObserveRelay(name string, r *outbox.Relay) (metric.Registration, error) {
	t.check()
	opt := observeOptions(name)
	in := &t.inst
	return t.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		st, err := r.Stats(ctx)
		if err != nil {
			return err
		}
		o.ObserveInt64(in.obBacklog, int64(st.Backlog), opt...)
		o.ObserveFloat64(in.obLag, st.Lag.Seconds(), opt...)
		o.ObserveInt64(in.obDeadLetters, int64(st.DeadLetters), opt...)
		return nil
	}, in.obBacklog, in.obLag, in.obDeadLetters)
}
