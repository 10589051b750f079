// Package produce is what kafkaoutbox and kafkadlq share: checking that a
// client produces durably, and producing one record and waiting for its ack.
package produce

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Check returns an error naming the first setting of cl that would let a
// record be acknowledged without being durably stored, or never be sent:
// acks other than all in-sync replicas, idempotent writes disabled, manual
// flushing, a transactional ID, or DefaultProduceTopicAlways. name
// prefixes the error: the package and what cl is ("kafkadlq: New: cl").
func Check(name string, cl *kgo.Client) error {
	if cl == nil {
		return fmt.Errorf("%s must not be nil", name)
	}
	if acks, _ := cl.OptValue(kgo.RequiredAcks).(kgo.Acks); acks != kgo.AllISRAcks() {
		got := "leader only"
		if acks == kgo.NoAck() {
			got = "none"
		}
		return fmt.Errorf("%s must wait for all in-sync replicas (kgo.RequiredAcks(kgo.AllISRAcks()), the default), got acks from %s", name, got)
	}
	if off, _ := cl.OptValue(kgo.DisableIdempotentWrite).(bool); off {
		return fmt.Errorf("%s must write idempotently (the default), got kgo.DisableIdempotentWrite", name)
	}
	if manual, _ := cl.OptValue(kgo.ManualFlushing).(bool); manual {
		return fmt.Errorf("%s must flush automatically (the default), got kgo.ManualFlushing", name)
	}
	if vs := cl.OptValues(kgo.TransactionalID); len(vs) == 2 && vs[1] == true {
		return fmt.Errorf("%s must not be transactional, got kgo.TransactionalID(%q)", name, vs[0])
	}
	if always, _ := cl.OptValue(kgo.DefaultProduceTopicAlways).(bool); always {
		return fmt.Errorf("%s must produce to each record's topic, got kgo.DefaultProduceTopicAlways", name)
	}
	return nil
}

// Sync produces rec and waits for the broker's ack. It returns as soon as
// ctx is done, with an error wrapping ctx.Err(), even while the record is
// in flight: the client then still owns the record, which may yet be
// stored (the caller's retry makes a duplicate), and fails it when it is
// safe to. Unlike Produce, it does not wait for the client's linger.
func Sync(ctx context.Context, cl *kgo.Client, rec *kgo.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	// ProduceSync cuts the partition's linger short; a goroutine lets us
	// stop waiting for an in-flight record, which kgo will not fail while
	// the broker may have it. The goroutine ends when the client resolves
	// the record: with the broker's answer, or on Close.
	go func() { done <- cl.ProduceSync(ctx, rec).FirstErr() }()
	select {
	case err := <-done:
		if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			return fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
