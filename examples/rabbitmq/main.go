// Command rabbitmq shows the outbox and dead-letter adapters for RabbitMQ:
// a shop writes a customer's orders to a transactional outbox; a relay
// publishes them to RabbitMQ with publisher confirms; a consumer handles
// each delivery through an inbox, which drops a copy the broker delivers
// twice, and a retrier, which retries a payment that times out and hands a
// malformed order to a dead-letter queue, with its error and attempts,
// instead of losing it or retrying it for ever.
//
// It needs a RabbitMQ: BULWARK_RABBITMQ_URL, or amqp://guest:guest@127.0.0.1:5672/.
// It declares an exchange and two queues of its own and deletes them at
// the end. It takes about a second:
//
//	go run ./examples/rabbitmq
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitdlq"
	"github.com/bulwark-go/bulwark/adapters/rabbitmq/rabbitoutbox"
	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/retry"
	amqp "github.com/rabbitmq/amqp091-go"
)

const defaultURL = "amqp://guest:guest@127.0.0.1:5672/"

func main() {
	brokerURL := os.Getenv("BULWARK_RABBITMQ_URL")
	if brokerURL == "" {
		brokerURL = defaultURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, brokerURL); err != nil {
		fmt.Fprintln(os.Stderr, "rabbitmq example:", err)
		os.Exit(1)
	}
}

// order is the event the shop writes.
type order struct {
	ID    string `json:"id"`
	Total int    `json:"total"`
}

func run(ctx context.Context, out io.Writer, brokerURL string) error {
	topo, err := declare(brokerURL)
	if err != nil {
		return err
	}
	defer topo.remove()
	fmt.Fprintf(out, "RabbitMQ at %s: exchange %s, queues %s and %s\n\n", redact(brokerURL), topo.exchange, topo.orders, topo.dlq)

	// 1. The shop writes four orders of one customer to the outbox (here in
	// memory; in a service, in the transaction that stores the orders).
	store := outbox.NewMemoryStore()
	payloads := []string{`{"id":"o-1","total":30}`, `{"id":"o-2","total":12}`, `{"id":"o-3","total":`, `{"id":"o-4","total":7}`}
	var msgs []outbox.Message
	for _, p := range payloads {
		msgs = append(msgs, outbox.NewMessage("orders.created", "customer-42", []byte(p)))
	}
	if err := store.Enqueue(ctx, msgs...); err != nil {
		return err
	}
	fmt.Fprintf(out, "1. The shop writes %d orders to the outbox; the relay publishes them, each confirmed by the broker.\n", len(msgs))

	pub, err := rabbitoutbox.New(rabbitoutbox.Config{URL: brokerURL, Exchange: topo.exchange})
	if err != nil {
		return err
	}
	defer pub.Close()
	published := make(chan struct{}, len(msgs))
	relay, err := outbox.NewRelay(store, pub, outbox.Config{
		PollInterval: 50 * time.Millisecond,
		Logger:       slog.New(slog.DiscardHandler),
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if _, ok := e.(outbox.Published); ok {
				published <- struct{}{}
			}
		}),
	})
	if err != nil {
		return err
	}
	relaying := bulwark.Start(ctx, relay)
	for range msgs {
		select {
		case <-published:
		case <-relaying.Done():
			return fmt.Errorf("relay stopped: %w", relaying.Stop(ctx))
		case <-ctx.Done():
			return fmt.Errorf("waiting for the relay: %w", ctx.Err())
		}
	}
	if err := relaying.Stop(ctx); err != nil {
		return err
	}
	// A relay that crashed after publishing o-1 but before recording it
	// would publish it again: the broker then holds two copies.
	if err := pub.Publish(ctx, msgs[0]); err != nil {
		return err
	}
	fmt.Fprintln(out, "   A relay that crashed after publishing o-1 publishes it again.")

	// 2. The consumer.
	fmt.Fprintln(out, "\n2. The consumer handles each delivery through an inbox (one run per message-id) and a retrier (3 attempts):")
	sink, err := rabbitdlq.New(rabbitdlq.Config[outbox.Message]{URL: brokerURL, RoutingKey: topo.dlq})
	if err != nil {
		return err
	}
	defer sink.Close()
	retrier, err := retry.New(retry.Config{
		MaxAttempts: 3,
		Backoff:     retry.Constant{Delay: 50 * time.Millisecond},
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if r, ok := e.(retry.Retried); ok {
				fmt.Fprintf(out, "   attempt %d failed (%v); retrying in %v\n", r.Attempt, r.Err, r.Delay)
			}
		}),
	})
	if err != nil {
		return err
	}
	payments := map[string]int{"o-2": 2} // o-2's payment times out twice
	announce := sinkFunc(func(ctx context.Context, l retry.DeadLetter[outbox.Message]) error {
		if err := sink.DeadLetter(ctx, l); err != nil {
			return err
		}
		fmt.Fprintf(out, "   dead-lettered after %d attempt(s): %s\n", len(l.Attempts), l.Item.Payload)
		return nil
	})
	handle := retry.Handler(retrier, announce, func(ctx context.Context, m outbox.Message) error {
		var o order
		if err := json.Unmarshal(m.Payload, &o); err != nil {
			return retry.Permanent(fmt.Errorf("malformed order %q: %w", m.Payload, err))
		}
		if payments[o.ID] > 0 {
			payments[o.ID]--
			return fmt.Errorf("payment for %s timed out", o.ID)
		}
		fmt.Fprintf(out, "   %s: charged %d\n", o.ID, o.Total)
		return nil
	})
	names := make(map[string]string, len(msgs))
	for _, m := range msgs {
		var o order
		if json.Unmarshal(m.Payload, &o) == nil {
			names[m.ID.String()] = o.ID
		}
	}
	keeper, err := idempotency.New(idempotency.NewMemoryStore(), idempotency.Config{})
	if err != nil {
		return err
	}
	inbox, err := idempotency.NewInbox(keeper, idempotency.InboxConfig{
		Consumer: "payments",
		Observer: bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
			if d, ok := e.(idempotency.Duplicate); ok {
				fmt.Fprintf(out, "   %s again (same message-id): dropped by the inbox\n", names[d.MessageID])
			}
		}),
	})
	if err != nil {
		return err
	}
	deliveries, err := topo.ch.Consume(topo.orders, "", false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consuming %s: %w", topo.orders, err)
	}
	for range len(msgs) + 1 {
		var d amqp.Delivery
		select {
		case d = <-deliveries:
		case <-ctx.Done():
			return fmt.Errorf("waiting for deliveries: %w", ctx.Err())
		}
		m, err := rabbitoutbox.Decode(d)
		if err != nil {
			return err
		}
		if _, err := inbox.Process(ctx, m.ID.String(), func(ctx context.Context) error { return handle(ctx, m) }); err != nil {
			// Not handled and not dead-lettered (the dead-letter queue
			// was unreachable, say): the broker delivers it again.
			_ = d.Nack(false, true)
			return fmt.Errorf("handling %s: %w", m.ID, err)
		}
		if err := d.Ack(false); err != nil {
			return err
		}
	}

	// 3. The dead-letter queue.
	fmt.Fprintln(out, "\n3. The dead-letter queue holds what could not be handled:")
	d, ok, err := getWithin(ctx, topo.ch, topo.dlq, 10*time.Second)
	if err != nil || !ok {
		return fmt.Errorf("reading the dead-letter queue: found=%v, %v", ok, err)
	}
	letter, err := rabbitdlq.Decode[outbox.Message](d, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "   body:     %s\n   attempts: %d\n   error:    %s\n", letter.Item.Payload, letter.AttemptCount, letter.Err)
	fmt.Fprintf(out, "   (message %s of key %s, kept whole to replay once the shop is fixed)\n", letter.Item.ID, letter.Item.Key)
	return nil
}

// sinkFunc adapts a function to retry.DeadLetterSink.
type sinkFunc func(context.Context, retry.DeadLetter[outbox.Message]) error

func (f sinkFunc) DeadLetter(ctx context.Context, l retry.DeadLetter[outbox.Message]) error {
	return f(ctx, l)
}

// topology is the example's own exchange and queues.
type topology struct {
	conn                  *amqp.Connection
	ch                    *amqp.Channel
	exchange, orders, dlq string
}

// declare connects and declares the example's exchange and queues, with
// random names so that runs never share them.
func declare(brokerURL string) (*topology, error) {
	conn, err := amqp.DialConfig(brokerURL, amqp.Config{Dial: amqp.DefaultDial(3 * time.Second)})
	if err != nil {
		return nil, fmt.Errorf("cannot reach RabbitMQ at %s (start one, or set BULWARK_RABBITMQ_URL): %w", redact(brokerURL), err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "bulwark-example-" + hex.EncodeToString(b[:])
	t := &topology{conn: conn, exchange: name, orders: name + ".orders", dlq: name + ".dlq"}
	if t.ch, err = conn.Channel(); err == nil {
		err = t.ch.ExchangeDeclare(t.exchange, amqp.ExchangeTopic, true, false, false, false, nil)
	}
	if err == nil {
		_, err = t.ch.QueueDeclare(t.orders, true, false, false, false, nil)
	}
	if err == nil {
		err = t.ch.QueueBind(t.orders, "orders.*", t.exchange, false, nil)
	}
	if err == nil {
		_, err = t.ch.QueueDeclare(t.dlq, true, false, false, false, nil)
	}
	if err != nil {
		t.remove()
		return nil, fmt.Errorf("declaring the example's exchange and queues: %w", err)
	}
	return t, nil
}

// remove deletes the exchange and queues and closes the connection.
func (t *topology) remove() {
	defer t.conn.Close()
	ch, err := t.conn.Channel() // t.ch may have been closed by an error
	if err != nil {
		return
	}
	_, _ = ch.QueueDelete(t.orders, false, false, false)
	_, _ = ch.QueueDelete(t.dlq, false, false, false)
	_ = ch.ExchangeDelete(t.exchange, false, false)
}

// getWithin polls queue until a message is there or wait has passed.
func getWithin(ctx context.Context, ch *amqp.Channel, queue string, wait time.Duration) (amqp.Delivery, bool, error) {
	deadline := time.Now().Add(wait)
	for {
		d, ok, err := ch.Get(queue, true)
		if err != nil || ok || time.Now().After(deadline) {
			return d, ok, err
		}
		select {
		case <-ctx.Done():
			return d, false, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// redact hides the password of an AMQP URL.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
