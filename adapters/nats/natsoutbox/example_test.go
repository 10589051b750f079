package natsoutbox_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/nats/natsoutbox"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A relay publishes the outbox's messages to a JetStream stream; a
// consumer decodes them. The NATS server is embedded here; a service
// connects to its own.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir, err := os.MkdirTemp("", "natsoutbox-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		panic(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		panic("nats-server did not start")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		panic(err)
	}
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	if err != nil {
		panic(err)
	}

	pub, err := natsoutbox.New(js, natsoutbox.Config{})
	if err != nil {
		panic(err)
	}
	store := outbox.NewMemoryStore() // pgoutbox or sqliteoutbox in a service
	relay, err := outbox.NewRelay(store, pub, outbox.Config{})
	if err != nil {
		panic(err)
	}
	services := bulwark.Start(ctx, relay)
	defer services.Stop(context.Background())

	msg := outbox.NewMessage("orders.created", "order-1", []byte(`{"total":42}`))
	msg.Headers = map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	if err := store.Enqueue(ctx, msg); err != nil {
		panic(err)
	}

	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		panic(err)
	}
	got, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		panic(err)
	}
	m, err := natsoutbox.Decode(got.Subject(), got.Headers(), got.Data())
	if err != nil {
		panic(err)
	}
	fmt.Println(m.ID == msg.ID, m.Topic, m.Key, string(m.Payload), m.Headers["traceparent"][:2])
	// Output:
	// true orders.created order-1 {"total":42} 00
}

// CheckSubject says whether a subject is literal: a subject built from a
// key such as "*" would be a wildcard no consumer receives, so Publish
// refuses it. Check runs the same test on a whole message, before Enqueue.
func ExampleCheckSubject() {
	for _, subject := range []string{"orders.order-1", "orders.*", "orders.>", "orders..1"} {
		fmt.Println(natsoutbox.CheckSubject(subject))
	}
	// Output:
	// <nil>
	// natsoutbox: the subject "orders.*" has the wildcard token "*": publish subjects must be literal, or no consumer of concrete subjects receives the message
	// natsoutbox: the subject "orders.>" has the wildcard token ">": publish subjects must be literal, or no consumer of concrete subjects receives the message
	// natsoutbox: the subject "orders..1" has an empty token
}
