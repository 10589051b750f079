package otelbulwark

import (
	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/idempotency"
	"go.opentelemetry.io/otel/metric"
)

// InstrumentKeeper makes cfg's keeper count the requests answered with a
// stored outcome (bulwark.idempotency.replays) and those that took over a
// key whose holder's lease ran out (bulwark.idempotency.takeovers), with
// bulwark.name set to name. The hooks cfg already has run after the
// recording.
func (t *Telemetry) InstrumentKeeper(name string, cfg *idempotency.Config) {
	opt := fixed(name)
	onReplay, onTakeover := cfg.OnReplay, cfg.OnTakeover
	cfg.OnReplay = func(ref idempotency.Ref) {
		t.inst.idemReplays.Add(background, 1, opt.add...)
		if onReplay != nil {
			onReplay(ref)
		}
	}
	cfg.OnTakeover = func(ref idempotency.Ref, attempt int) {
		t.inst.idemTakeovers.Add(background, 1, opt.add...)
		if onTakeover != nil {
			onTakeover(ref, attempt)
		}
	}
}

// InstrumentInbox makes cfg's inbox count the messages it skips as already
// processed (bulwark.idempotency.duplicates) with bulwark.name set to name.
// The hook cfg already has runs after the recording.
func (t *Telemetry) InstrumentInbox(name string, cfg *idempotency.InboxConfig) {
	opt := fixed(name)
	onDuplicate := cfg.OnDuplicate
	cfg.OnDuplicate = func(id string) {
		t.inst.idemDuplicates.Add(background, 1, opt.add...)
		if onDuplicate != nil {
			onDuplicate(id)
		}
	}
}

// InstrumentRepository makes cfg's repository count the commands it tries
// again (bulwark.eventsource.retries, with the error.type of the failed
// try's error) and the snapshots it could not use or save
// (bulwark.eventsource.snapshot_errors), with bulwark.name set to name. The
// hooks cfg already has run after the recording.
func InstrumentRepository[S any](t *Telemetry, name string, cfg *eventsource.RepositoryConfig[S]) {
	opt := fixed(name)
	onRetry, onSnapshotError := cfg.OnRetry, cfg.OnSnapshotError
	cfg.OnRetry = func(id string, attempt int, err error) {
		t.inst.esRetries.Add(background, 1, metric.WithAttributes(nameKey.String(name),
			errorTypeKey.String(ErrorType(err))))
		if onRetry != nil {
			onRetry(id, attempt, err)
		}
	}
	cfg.OnSnapshotError = func(streamID string, err error) {
		t.inst.esSnapshotErrors.Add(background, 1, opt.add...)
		if onSnapshotError != nil {
			onSnapshotError(streamID, err)
		}
	}
}

// InstrumentSubscription makes cfg's subscription record the global
// position of the last event it handled each time it catches up
// (bulwark.eventsource.subscription.position), with bulwark.name set to
// name. Compared with the head of the log, it shows how far behind the
// subscription is. The hook cfg already has runs after the recording.
func (t *Telemetry) InstrumentSubscription(name string, cfg *eventsource.SubscriptionConfig) {
	opt := fixed(name)
	onCaughtUp := cfg.OnCaughtUp
	cfg.OnCaughtUp = func(position int64) {
		t.inst.esPosition.Record(background, position, opt.record...)
		if onCaughtUp != nil {
			onCaughtUp(position)
		}
	}
}
