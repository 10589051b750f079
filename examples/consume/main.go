// Command consume shows a consume.Consumer taking orders in from NATS
// JetStream (embedded here) through natsconsume, in four short scenes:
//
//  1. A payment gateway blips once: the handler is run again at once, in
//     place, within the same delivery.
//  2. The card service is down for a whole delivery of an unkeyed refund:
//     after its in-place retries the message is handed back to JetStream
//     with NakWithDelay, and billed when the server delivers it again.
//  3. An order no handler can bill (a negative total, a Permanent error) is
//     dead-lettered at once to a stream of dead letters, with its history.
//  4. The bug is fixed and the dead letter is replayed: the order comes
//     back under its first ID, and is billed.
//
// The run takes about a second:
//
//	go run ./examples/consume
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/nats/natsconsume"
	"github.com/bulwark-go/bulwark/adapters/nats/natsoutbox"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/retry"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	dir, err := os.MkdirTemp("", "bulwark-consume")
	if err != nil {
		fmt.Fprintln(os.Stderr, "consume example:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	if err := run(context.Background(), os.Stdout, dir); err != nil {
		fmt.Fprintln(os.Stderr, "consume example:", err)
		os.Exit(1)
	}
}

// The consumer's retry settings: two in-place retries 20ms apart, then a
// redelivery 500ms later, and a dead letter after the third delivery.
const (
	inPlaceWait   = 20 * time.Millisecond
	redeliverWait = 500 * time.Millisecond
)

// order is a message's payload.
type order struct {
	Name  string `json:"name"`
	Total int    `json:"total"`
}

// story runs the scenes and prints what happens.
type story struct {
	out  io.Writer
	js   jetstream.JetStream
	pub  *natsoutbox.Publisher
	dlq  *natsconsume.DeadLetters
	done chan string // a message billed or dead-lettered, by name

	mu    sync.Mutex
	names map[string]string // message ID to order name
	runs  map[string]int    // handler runs by order name and delivery

	gatewayBlips   atomic.Int32 // failures left for scene 1
	cardServiceOut atomic.Bool  // scene 2
	creditNotes    atomic.Bool  // the fix of scene 4
}

func run(ctx context.Context, w io.Writer, dir string) error {
	out := &syncWriter{w: w} // the handler and the events print from the consumer's goroutines
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		return err
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		return errors.New("nats-server did not start")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	for name, subject := range map[string]string{"ORDERS": "orders.>", "DEAD": "dead.>"} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{subject}}); err != nil {
			return err
		}
	}
	s := &story{out: out, js: js, done: make(chan string), names: map[string]string{}, runs: map[string]int{}}
	if s.pub, err = natsoutbox.New(js, natsoutbox.Config{}); err != nil {
		return err
	}
	if s.dlq, err = natsconsume.NewDeadLetters(js, natsconsume.DeadLetterConfig{Stream: "DEAD", Subject: "dead.billing"}); err != nil {
		return err
	}
	src, err := natsconsume.New(js, natsconsume.Config{Stream: "ORDERS", Durable: "billing"})
	if err != nil {
		return err
	}
	c, err := consume.New(src, consume.Chain(consume.HandlerFunc(s.bill), consume.Recover()), consume.Config{
		Name:            "billing",
		Observer:        bulwark.ObserverFunc(s.observe),
		InPlaceAttempts: 2,
		InPlaceBackoff:  retry.Constant{Delay: inPlaceWait},
		MaxAttempts:     3,
		Redelivery:      retry.Constant{Delay: redeliverWait},
		DeadLetters:     s.dlq,
	})
	if err != nil {
		return err
	}
	services := bulwark.Start(ctx, c)
	defer services.Stop(context.Background())

	fmt.Fprintln(out, "1. The payment gateway blips once: retried in place")
	s.gatewayBlips.Store(1)
	if err := s.publish(ctx, "order-1", "customer-a", 42); err != nil {
		return err
	}
	if err := s.wait(ctx); err != nil {
		return err
	}

	fmt.Fprintln(out, "\n2. The card service is down for a whole delivery: handed back to JetStream")
	s.cardServiceOut.Store(true)
	start := time.Now()
	if err := s.publish(ctx, "refund-7", "", 15); err != nil {
		return err
	}
	if err := s.wait(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "   the server held it back for the delay: %v\n", time.Since(start) >= redeliverWait)
	s.cardServiceOut.Store(false)

	fmt.Fprintln(out, "\n3. A negative total cannot be billed: dead-lettered")
	if err := s.publish(ctx, "order-2", "customer-b", -5); err != nil {
		return err
	}
	if err := s.wait(ctx); err != nil {
		return err
	}
	letters, err := s.dlq.List(ctx, 1, 10)
	if err != nil {
		return err
	}
	for _, l := range letters {
		fmt.Fprintf(out, "   dead letter %d: %s from %s, key %s, %d run(s), last error %q\n",
			l.Seq, s.name(l.Message.ID), l.Message.Topic, l.Message.Key, len(l.Attempts), l.Attempts[len(l.Attempts)-1].Err)
	}

	fmt.Fprintln(out, "\n4. Negative totals become credit notes; the dead letter is replayed")
	s.creditNotes.Store(true)
	s.mu.Lock()
	clear(s.runs) // the replay's deliveries count from 1 again
	s.mu.Unlock()
	for _, l := range letters {
		fmt.Fprintf(out, "   replaying dead letter %d to %s\n", l.Seq, l.Message.Topic)
		if err := s.dlq.Replay(ctx, l.Seq); err != nil {
			return err
		}
		if err := s.wait(ctx); err != nil {
			return err
		}
	}
	if letters, err = s.dlq.List(ctx, 1, 10); err != nil {
		return err
	}
	fmt.Fprintf(out, "   dead letters left: %d\n", len(letters))
	return services.Stop(ctx)
}

// publish sends an order through the outbox's NATS publisher.
func (s *story) publish(ctx context.Context, name, key string, total int) error {
	payload, err := json.Marshal(order{Name: name, Total: total})
	if err != nil {
		return err
	}
	m := outbox.NewMessage("orders.created", key, payload)
	s.mu.Lock()
	s.names[m.ID.String()] = name
	s.mu.Unlock()
	fmt.Fprintf(s.out, "   published %s (key %q, total %d)\n", name, key, total)
	return s.pub.Publish(ctx, m)
}

// wait waits for the scene's message to be billed or dead-lettered.
func (s *story) wait(ctx context.Context) error {
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *story) name(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.names[id]
}

// bill is the handler.
func (s *story) bill(ctx context.Context, m *consume.Message) error {
	var o order
	if err := json.Unmarshal(m.Payload, &o); err != nil {
		return consume.Permanent(err)
	}
	s.mu.Lock()
	s.runs[fmt.Sprint(o.Name, m.Attempt)]++
	run := s.runs[fmt.Sprint(o.Name, m.Attempt)]
	s.mu.Unlock()
	switch {
	case s.gatewayBlips.Add(-1) >= 0:
		return errors.New("payment gateway: connection reset")
	case s.cardServiceOut.Load() && m.Attempt == 1:
		return errors.New("card service unavailable")
	case o.Total < 0 && !s.creditNotes.Load():
		return consume.Permanent(fmt.Errorf("negative total %d", o.Total))
	}
	what := "billed"
	if o.Total < 0 {
		what = "credit note issued for"
	}
	fmt.Fprintf(s.out, "   %s %s (delivery %d, run %d)\n", what, o.Name, m.Attempt, run)
	if s.creditNotes.Load() {
		fmt.Fprintf(s.out, "   under the ID it was first published with: %v\n", s.name(m.ID) == o.Name)
	}
	s.done <- o.Name
	return nil
}

// observe prints the Consumer's events.
func (s *story) observe(_ context.Context, e bulwark.Event) {
	switch e := e.(type) {
	case consume.Failed:
		next := "no retry in place"
		if e.Retry >= 0 {
			next = fmt.Sprintf("run again in place in %v", e.Retry)
		}
		fmt.Fprintf(s.out, "   %s: delivery %d, run %d failed: %v; %s\n", s.name(e.ID), e.Attempt, e.Run, e.Err, next)
	case consume.Redelivered:
		how := "NakWithDelay"
		if e.InProcess {
			how = "held by the consumer"
		}
		fmt.Fprintf(s.out, "   %s: delivered again in %v (%s)\n", s.name(e.ID), e.Delay, how)
	case consume.DeadLettered:
		fmt.Fprintf(s.out, "   %s: dead-lettered after %d run(s)\n", s.name(e.ID), e.Runs)
		s.done <- s.name(e.ID)
	}
}

// syncWriter serialises writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
