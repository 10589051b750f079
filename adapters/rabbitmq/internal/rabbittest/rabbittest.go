// Package rabbittest gives tests the RabbitMQ named by BULWARK_RABBITMQ_URL:
// connections, exchanges and queues of the test's own with random names
// (deleted when the test ends), and a TCP proxy that cuts or stalls the
// connections through it.
package rabbittest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/testenv"
	amqp "github.com/rabbitmq/amqp091-go"
)

// URL returns BULWARK_RABBITMQ_URL, skipping the test (or failing it, with
// BULWARK_REQUIRE_SERVICES=1) when it is unset.
func URL(t testing.TB) string {
	t.Helper()
	return testenv.RabbitMQURL(t)
}

// Name returns prefix followed by a random suffix.
func Name(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Channel connects to url and opens a channel, both closed when the test
// ends.
func Channel(t testing.TB, url string) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatalf("rabbittest: connecting to %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("rabbittest: opening a channel: %v", err)
	}
	return ch
}

// Exchange declares a topic exchange with a random name, deleted when the
// test ends, and returns its name.
func Exchange(t testing.TB, url string) string {
	t.Helper()
	name := Name("bulwark_test_x_")
	ch := Channel(t, url)
	if err := ch.ExchangeDeclare(name, amqp.ExchangeTopic, false, false, false, false, nil); err != nil {
		t.Fatalf("rabbittest: declaring exchange %s: %v", name, err)
	}
	t.Cleanup(func() { cleanup(t, url, func(ch *amqp.Channel) error { return ch.ExchangeDelete(name, false, false) }) })
	return name
}

// Queue declares a queue with a random name and args (nil for none), binds
// it to exchange with each binding key (none when exchange is ""), deletes
// it when the test ends, and returns its name.
func Queue(t testing.TB, url, exchange string, args amqp.Table, bindingKeys ...string) string {
	t.Helper()
	name := Name("bulwark_test_q_")
	ch := Channel(t, url)
	if _, err := ch.QueueDeclare(name, true, false, false, false, args); err != nil {
		t.Fatalf("rabbittest: declaring queue %s: %v", name, err)
	}
	t.Cleanup(func() {
		cleanup(t, url, func(ch *amqp.Channel) error { _, err := ch.QueueDelete(name, false, false, false); return err })
	})
	for _, key := range bindingKeys {
		if err := ch.QueueBind(name, key, exchange, false, nil); err != nil {
			t.Fatalf("rabbittest: binding queue %s to %s with %q: %v", name, exchange, key, err)
		}
	}
	return name
}

// Consume starts consuming queue with automatic acks on a connection of its
// own, closed when the test ends.
func Consume(t testing.TB, url, queue string) <-chan amqp.Delivery {
	t.Helper()
	ch := Channel(t, url)
	if err := ch.Qos(1000, 0, false); err != nil {
		t.Fatalf("rabbittest: %v", err)
	}
	d, err := ch.Consume(queue, "", true, false, false, false, nil)
	if err != nil {
		t.Fatalf("rabbittest: consuming %s: %v", queue, err)
	}
	return d
}

// Receive returns the next n deliveries of d, or fails when ctx is done.
func Receive(ctx context.Context, d <-chan amqp.Delivery, n int) ([]amqp.Delivery, error) {
	var got []amqp.Delivery
	for len(got) < n {
		select {
		case m, ok := <-d:
			if !ok {
				return got, context.Canceled
			}
			got = append(got, m)
		case <-ctx.Done():
			return got, ctx.Err()
		}
	}
	return got, nil
}

func cleanup(t testing.TB, url string, do func(*amqp.Channel) error) {
	conn, err := amqp.DialConfig(url, amqp.Config{Dial: amqp.DefaultDial(10 * time.Second)})
	if err != nil {
		t.Errorf("rabbittest: cleaning up: %v", err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Errorf("rabbittest: cleaning up: %v", err)
		return
	}
	if err := do(ch); err != nil {
		t.Errorf("rabbittest: cleaning up: %v", err)
	}
}
