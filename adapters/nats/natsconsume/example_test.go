package natsconsume_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/adapters/nats/natsconsume"
	"github.com/bulwark-go/bulwark/adapters/nats/natsoutbox"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A Consumer bills the orders natsoutbox published to a JetStream stream.
// An order its handler cannot bill is dead-lettered to a stream of its own;
// once the cause is fixed, the letter is replayed, and the order is billed
// under its first ID. The NATS server is embedded here; a service connects
// to its own.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir, err := os.MkdirTemp("", "natsconsume-example")
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
	for name, subjects := range map[string][]string{"ORDERS": {"orders.>"}, "DEAD": {"dead.>"}} {
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: subjects}); err != nil {
			panic(err)
		}
	}

	src, err := natsconsume.New(js, natsconsume.Config{Stream: "ORDERS", Durable: "billing"})
	if err != nil {
		panic(err)
	}
	dlq, err := natsconsume.NewDeadLetters(js, natsconsume.DeadLetterConfig{Stream: "DEAD", Subject: "dead.billing"})
	if err != nil {
		panic(err)
	}
	var fixed atomic.Bool
	billed := make(chan string)
	bill := consume.HandlerFunc(func(ctx context.Context, m *consume.Message) error {
		if string(m.Payload) == `{"total":-1}` && !fixed.Load() {
			return consume.Permanent(errors.New("a negative total"))
		}
		billed <- fmt.Sprintf("billed %s %s", m.Key, m.Payload)
		return nil
	})
	c, err := consume.New(src, bill, consume.Config{DeadLetters: dlq})
	if err != nil {
		panic(err)
	}
	services := bulwark.Start(ctx, c)
	defer services.Stop(context.Background())

	pub, err := natsoutbox.New(js, natsoutbox.Config{})
	if err != nil {
		panic(err)
	}
	good := outbox.NewMessage("orders.created", "order-1", []byte(`{"total":42}`))
	bad := outbox.NewMessage("orders.created", "order-2", []byte(`{"total":-1}`))
	for _, m := range []outbox.Message{good, bad} {
		if err := pub.Publish(ctx, m); err != nil {
			panic(err)
		}
	}
	fmt.Println(<-billed)

	var letters []natsconsume.Letter
	for len(letters) == 0 {
		if letters, err = dlq.List(ctx, 1, 10); err != nil {
			panic(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	l := letters[0]
	fmt.Println("dead letter:", l.Message.Key, l.Message.ID == bad.ID.String(), "at delivery", l.Message.Attempt)
	fmt.Println("why:", l.Attempts[0].Err)

	fixed.Store(true)
	if err := dlq.Replay(ctx, l.Seq); err != nil {
		panic(err)
	}
	fmt.Println(<-billed)
	letters, err = dlq.List(ctx, 1, 10)
	if err != nil {
		panic(err)
	}
	fmt.Println("dead letters left:", len(letters))
	// Output:
	// billed order-1 {"total":42}
	// dead letter: order-2 true at delivery 1
	// why: a negative total
	// billed order-2 {"total":-1}
	// dead letters left: 0
}
