// release-check: run

// Command nats publishes an outbox message to NATS JetStream and reads it
// back. It starts an embedded nats-server, so it needs nothing installed.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/bulwark-go/bulwark/adapters/nats/natsoutbox"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "jetstream")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: dir, NoSigs: true})
	if err != nil {
		log.Fatal(err)
	}
	srv.Start()
	defer srv.Shutdown()
	if !srv.ReadyForConnections(10 * time.Second) {
		log.Fatal("nats-server did not start")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	if err != nil {
		log.Fatal(err)
	}

	pub, err := natsoutbox.New(js, natsoutbox.Config{})
	if err != nil {
		log.Fatal(err)
	}
	if err := pub.Publish(ctx, outbox.NewMessage("orders.placed", "order-1", []byte(`{"id":1}`))); err != nil {
		log.Fatal(err)
	}

	cons, err := stream.CreateConsumer(ctx, jetstream.ConsumerConfig{AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		log.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		log.Fatal(err)
	}
	m, err := natsoutbox.Decode(msg.Subject(), msg.Headers(), msg.Data())
	if err != nil {
		log.Fatal(err)
	}
	if err := msg.Ack(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("consumed %s %s %s\n", m.Topic, m.Key, m.Payload)
}
