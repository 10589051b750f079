package main

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/bulwark-go/bulwark/outbox"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"
)

// TestRabbitMQBrokerRemovesWhatItDeclared: the run's exchange, queues and
// the retry queues its Source declared are gone once the broker is closed.
func TestRabbitMQBrokerRemovesWhatItDeclared(t *testing.T) {
	url := testenv.RabbitMQURL(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := startRabbitMQ(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	src, err := b.source()
	if err != nil {
		b.close()
		t.Fatal(err)
	}
	// A Receive declares the Source's topology; a Redeliver declares a
	// retry queue.
	pub, err := b.publisher()
	if err == nil {
		err = pub.Publish(ctx, outbox.NewMessage("orders.created", "order-0001", []byte("{}")))
	}
	if err != nil {
		b.close()
		t.Fatal(err)
	}
	ds, err := src.Receive(ctx, 1)
	if err == nil && len(ds) == 1 {
		err = ds[0].Redeliver(ctx, time.Second)
	}
	_ = src.Close(ctx)
	if err != nil || len(ds) != 1 {
		b.close()
		t.Fatalf("received %d (%v), want the message, redelivered", len(ds), err)
	}
	queues := append([]string(nil), b.declaredQueues...)
	exchange := b.exchange
	b.close()

	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range queues {
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ch.QueueDeclarePassive(q, true, false, false, false, nil); err == nil {
			t.Errorf("queue %s is still there", q)
			_ = ch.Close()
		}
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclarePassive(exchange, amqp.ExchangeTopic, true, false, false, false, nil); err == nil {
		t.Errorf("exchange %s is still there", exchange)
		_ = ch.Close()
	}
}
