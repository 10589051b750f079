package main

import (
	"context"
	"errors"
	"path/filepath"
	"time"

	"github.com/bulwark-go/bulwark/adapters/nats/natsconsume"
	"github.com/bulwark-go/bulwark/adapters/nats/natsoutbox"
	"github.com/bulwark-go/bulwark/consume"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/retry"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsBroker is NATS JetStream, embedded in this process: a real server on
// a loopback port, storing in a temporary directory. The relay publishes
// with natsoutbox, each event's ID as Nats-Msg-Id, so the ORDERS stream
// drops a copy; the processor pulls from the durable consumer
// order-processor with natsconsume, and dead-letters to the DEAD stream.
type natsBroker struct {
	server  *natsserver.Server
	conn    *nats.Conn
	js      jetstream.JetStream
	stream  jetstream.Stream
	letters *natsconsume.DeadLetters
}

// duplicateWindow is how long the ORDERS stream remembers message IDs: a
// message published again within it (same Nats-Msg-Id) is acknowledged
// and dropped.
const duplicateWindow = 5 * time.Minute

// deadStream is the stream that keeps the messages the order processor
// gave up on (natsconsume.DeadLetters), to list, replay or discard.
const deadStream = "DEAD"

func startNATS(ctx context.Context, dir string) (*natsBroker, error) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, JetStream: true,
		StoreDir: filepath.Join(dir, "jetstream"), NoLog: true, NoSigs: true})
	if err != nil {
		return nil, err
	}
	go ns.Start()
	b := &natsBroker{server: ns}
	if !ns.ReadyForConnections(10 * time.Second) {
		b.close()
		return nil, errors.New("the embedded nats-server did not start within 10s")
	}
	if b.conn, err = nats.Connect(ns.ClientURL()); err != nil {
		b.close()
		return nil, err
	}
	if b.js, err = jetstream.New(b.conn); err == nil {
		b.stream, err = b.js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, Duplicates: duplicateWindow})
	}
	if err == nil {
		_, err = b.js.CreateStream(ctx, jetstream.StreamConfig{Name: deadStream, Subjects: []string{"dead.>"}})
	}
	if err == nil {
		b.letters, err = natsconsume.NewDeadLetters(b.js, natsconsume.DeadLetterConfig{Stream: deadStream, Subject: "dead.order-processor"})
	}
	if err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

func (b *natsBroker) describe() string {
	return "embedded NATS JetStream at " + b.server.ClientURL()
}

func (b *natsBroker) name() string { return "JetStream" }

func (b *natsBroker) copies() string { return "JetStream drops the copy (Nats-Msg-Id)" }

func (b *natsBroker) publisher() (outbox.Publisher, error) {
	return natsoutbox.New(b.js, natsoutbox.Config{})
}

func (b *natsBroker) source() (consume.Source, error) {
	return natsconsume.New(b.js, natsconsume.Config{Stream: "ORDERS", Durable: "order-processor", FilterSubjects: []string{"orders.created"}})
}

func (b *natsBroker) deadLetterSink() retry.DeadLetterSink[consume.Message] { return b.letters }

func (b *natsBroker) deadLetters(ctx context.Context) (int, error) {
	letters, err := b.letters.List(ctx, 1, 10_000)
	return len(letters), err
}

// messages returns how many messages the stream holds: one per ID, since
// the stream drops a copy published within duplicateWindow.
func (b *natsBroker) messages(ctx context.Context) (int, error) {
	info, err := b.stream.Info(ctx)
	if err != nil {
		return 0, err
	}
	return int(info.State.Msgs), nil
}

func (b *natsBroker) close() {
	if b.conn != nil {
		b.conn.Close()
	}
	b.server.Shutdown()
	b.server.WaitForShutdown()
}
