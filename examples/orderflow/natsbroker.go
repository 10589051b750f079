package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
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

// natsBroker is NATS JetStream: by default embedded in this process, a
// real server on a loopback port storing in a temporary directory; with
// -nats, a server at a URL, where the run's streams and subjects get a
// random prefix and the streams are deleted at the end. The relay
// publishes with natsoutbox, each event's ID as Nats-Msg-Id, so the ORDERS
// stream drops a copy; the processor pulls from the durable consumer
// order-processor with natsconsume, and dead-letters to the DEAD stream.
type natsBroker struct {
	server       *natsserver.Server // nil for a server at a URL
	url          string
	conn         *nats.Conn
	js           jetstream.JetStream
	stream       jetstream.Stream
	letters      *natsconsume.DeadLetters
	prefix       string // of the subjects: "" or "orderflow_<hex>."
	orders, dead string // the streams' names
	created      []string
}

// duplicateWindow is how long the ORDERS stream remembers message IDs: a
// message published again within it (same Nats-Msg-Id) is acknowledged
// and dropped.
const duplicateWindow = 5 * time.Minute

// deadStream is the stream that keeps the messages the order processor
// gave up on (natsconsume.DeadLetters), to list, replay or discard.
const deadStream = "DEAD"

// startNATS starts an embedded server storing in dir, or, when url is not
// empty, connects to the server there.
func startNATS(ctx context.Context, dir, url string) (*natsBroker, error) {
	b := &natsBroker{url: url, orders: "ORDERS", dead: deadStream}
	if url == "" {
		ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, JetStream: true,
			StoreDir: filepath.Join(dir, "jetstream"), NoLog: true, NoSigs: true})
		if err != nil {
			return nil, err
		}
		go ns.Start()
		b.server = ns
		if !ns.ReadyForConnections(10 * time.Second) {
			b.close()
			return nil, errors.New("the embedded nats-server did not start within 10s")
		}
		b.url = ns.ClientURL() // its port is known once it listens
	} else {
		var tag [4]byte
		_, _ = rand.Read(tag[:])
		name := "orderflow_" + hex.EncodeToString(tag[:])
		b.prefix, b.orders, b.dead = name+".", name+"_ORDERS", name+"_DEAD"
	}
	var err error
	if b.conn, err = nats.Connect(b.url, nats.Timeout(3*time.Second)); err != nil {
		b.close()
		return nil, fmt.Errorf("cannot reach NATS at %s: %w", b.url, err)
	}
	if b.js, err = jetstream.New(b.conn); err == nil {
		b.stream, err = b.js.CreateStream(ctx, jetstream.StreamConfig{Name: b.orders, Subjects: []string{b.prefix + "orders.>"}, Duplicates: duplicateWindow})
	}
	if err == nil {
		b.created = append(b.created, b.orders)
		_, err = b.js.CreateStream(ctx, jetstream.StreamConfig{Name: b.dead, Subjects: []string{b.prefix + "dead.>"}})
	}
	if err == nil {
		b.created = append(b.created, b.dead)
		b.letters, err = natsconsume.NewDeadLetters(b.js, natsconsume.DeadLetterConfig{Stream: b.dead, Subject: b.prefix + "dead.order-processor"})
	}
	if err != nil {
		b.close()
		return nil, fmt.Errorf("creating the run's JetStream streams at %s: %w", b.url, err)
	}
	return b, nil
}

func (b *natsBroker) describe() string {
	if b.server != nil {
		return "embedded NATS JetStream at " + b.url
	}
	return fmt.Sprintf("NATS JetStream at %s, streams %s and %s (deleted at the end)", b.url, b.orders, b.dead)
}

func (b *natsBroker) name() string { return "JetStream" }

func (b *natsBroker) copies() string { return "JetStream drops the copy (Nats-Msg-Id)" }

func (b *natsBroker) publisher() (outbox.Publisher, error) {
	return natsoutbox.New(b.js, natsoutbox.Config{Subject: func(m outbox.Message) string { return b.prefix + m.Topic }})
}

func (b *natsBroker) source() (consume.Source, error) {
	return natsconsume.New(b.js, natsconsume.Config{Stream: b.orders, Durable: "order-processor", FilterSubjects: []string{b.prefix + "orders.created"}})
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

// close deletes the streams the run made on a server at a URL, and
// disconnects, or stops the embedded server.
func (b *natsBroker) close() {
	if b.server == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		for _, name := range b.created {
			_ = b.js.DeleteStream(ctx, name)
		}
		cancel()
	}
	if b.conn != nil {
		b.conn.Close()
	}
	if b.server != nil {
		b.server.Shutdown()
		b.server.WaitForShutdown()
	}
}
