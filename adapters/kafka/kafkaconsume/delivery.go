package kafkaconsume

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/bulwark-go/bulwark/adapters/kafka/internal/produce"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/twmb/franz-go/pkg/kgo"
)

// errSettled is returned by a delivery settled twice.
var errSettled = errors.New("kafkaconsume: delivery already settled")

// delivery is one handing-out of an entry: a released entry is handed out
// again as a new delivery.
type delivery struct {
	s *Source
	e *entry
}

var _ consume.Delivery = (*delivery)(nil)

func (d *delivery) Message() *consume.Message { return &d.e.msg }

// begin checks that d can still be settled. s.mu is held.
func (d *delivery) begin() error {
	if d.e.out != d {
		return errSettled
	}
	if d.e.p.gone {
		return d.gone()
	}
	return nil
}

// end ends d's handing-out. s.mu is held.
func (d *delivery) end() {
	d.e.out = nil
	d.e.p.out--
	d.s.settled()
}

func (d *delivery) gone() error {
	r := d.e.rec
	return fmt.Errorf("kafkaconsume: %s[%d]@%d: partition revoked or lost: %w", r.Topic, r.Partition, r.Offset, consume.ErrGone)
}

// Ack marks the record done. Its offset is committed (on the next periodic
// commit, a revocation or Close) once every record before it in its
// partition is done too. After the partition was revoked or lost, Ack
// returns an error wrapping consume.ErrGone and the record is left to the
// partition's next owner.
func (d *delivery) Ack(ctx context.Context) error {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := d.begin(); err != nil {
		if errors.Is(err, consume.ErrGone) {
			d.end()
		}
		return err
	}
	d.end()
	d.e.done = true
	d.e.p.advance()
	return nil
}

// Release gives the record up unsettled: nothing is committed for it, and
// the next Receive hands it out again (before anything newly fetched),
// with the same Attempt. A group client does not fetch a record twice on
// its own, so the Source keeps it rather than leave it to the broker.
func (d *delivery) Release(ctx context.Context) error {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := d.begin(); err != nil {
		if errors.Is(err, consume.ErrGone) {
			d.end()
		}
		return err
	}
	d.end()
	s.released = append(s.released, d.e)
	if s.wake != nil {
		s.wake()
	}
	return nil
}

// Extend does nothing (Kafka has no per-message lease) and returns nil, or
// an error wrapping consume.ErrGone once the partition was revoked or lost.
func (d *delivery) Extend(ctx context.Context) error {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	return d.begin()
}

// Redeliver produces the message to its topic's retry topic, with the
// same key, value, ID and headers, Attempt one higher and a not-before
// time delay from now, waits until all in-sync replicas have it, and then
// marks the record done as Ack does. If producing fails (or ctx ends
// first), Redeliver returns the error and the delivery ends as after
// Release: nothing is committed, and the next Receive hands the record out
// again with the same Attempt (the retry record may still have been
// stored, and then the message comes twice). If the
// partition is revoked while the record is being produced, Redeliver
// returns an error wrapping consume.ErrGone: the record is left to the
// partition's next owner, and the message is delivered twice (its retry
// copy and the original), with the same ID.
func (d *delivery) Redeliver(ctx context.Context, delay time.Duration) error {
	s := d.s
	s.mu.Lock()
	if err := d.begin(); err != nil {
		if errors.Is(err, consume.ErrGone) {
			d.end()
		}
		s.mu.Unlock()
		return err
	}
	cl := s.cl
	s.mu.Unlock()
	if delay < 0 {
		delay = 0
	}
	rec := d.e.retryRecord(s.retryTopic(d.e.topic), s.clk.Now().Add(delay))
	perr := produce.Sync(ctx, cl, rec)
	s.mu.Lock()
	defer s.mu.Unlock()
	if perr != nil {
		perr = fmt.Errorf("kafkaconsume: redelivering %s through %s: %w", d.e.id, rec.Topic, perr)
		if d.e.out == d {
			d.end()
			if !d.e.p.gone {
				s.released = append(s.released, d.e)
				if s.wake != nil {
					s.wake()
				}
			}
		}
		return perr
	}
	if err := d.begin(); err != nil {
		if errors.Is(err, consume.ErrGone) {
			d.end()
		}
		return err
	}
	d.end()
	d.e.done = true
	d.e.p.advance()
	return nil
}

// retryRecord returns the record Redeliver sends to topic.
func (e *entry) retryRecord(topic string, notBefore time.Time) *kgo.Record {
	hs := redeliveryHeaders(e.rec, e.id, e.published, 3)
	hs = append(hs,
		kgo.RecordHeader{Key: TopicHeader, Value: []byte(e.topic)},
		kgo.RecordHeader{Key: AttemptHeader, Value: strconv.AppendInt(nil, int64(e.attempt)+1, 10)},
		kgo.RecordHeader{Key: NotBeforeHeader, Value: appendTime(nil, notBefore)})
	return &kgo.Record{Topic: topic, Key: e.rec.Key, Value: e.rec.Value, Headers: hs}
}
