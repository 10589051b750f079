// Command outbox shows the transactional outbox: each order and its
// "orders.created" event are written in one database transaction (SQLite by
// default, PostgreSQL with -db postgres); a relay process publishes the
// events to an embedded NATS JetStream; a consumer prints them.
//
// With -kill the relay process is killed with SIGKILL halfway through and
// started again: every event still arrives, once and in order.
//
//	go run ./examples/outbox
//	go run ./examples/outbox -kill
//	go run ./examples/outbox -db postgres -dsn postgres://postgres@127.0.0.1:5432/test
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/bulwark-go/bulwark/adapters/nats/natsoutbox"
	"github.com/bulwark-go/bulwark/outbox"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options configure one run of the example.
type Options struct {
	DB     string // "sqlite" or "postgres"
	DSN    string // PostgreSQL connection string
	Dir    string // where the SQLite file and JetStream data go
	Orders int
	Kill   bool
}

func main() {
	if os.Getenv(relayChildVar) != "" {
		relayChild()
		return
	}
	o := Options{}
	flag.StringVar(&o.DB, "db", "sqlite", "database: sqlite or postgres")
	flag.StringVar(&o.DSN, "dsn", os.Getenv("BULWARK_POSTGRES_DSN"), "PostgreSQL connection string (with -db postgres)")
	flag.IntVar(&o.Orders, "orders", 20, "orders to place")
	flag.BoolVar(&o.Kill, "kill", false, "kill the relay with SIGKILL halfway through, then restart it")
	flag.Parse()
	dir, err := os.MkdirTemp("", "bulwark-outbox-example")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	o.Dir = dir
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer, o Options) error {
	if o.Orders < 2 {
		return errors.New("-orders must be at least 2")
	}
	// The relay process's output is copied in from another goroutine.
	out := &lockedWriter{w: w}
	// The broker: NATS JetStream, embedded, with a stream whose duplicate
	// window drops a message published twice with the same Nats-Msg-Id.
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: filepath.Join(o.Dir, "nats"), NoLog: true, NoSigs: true})
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
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, Duplicates: 5 * time.Minute})
	if err != nil {
		return err
	}

	db, err := openDB(ctx, o)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintf(out, "database: %s; broker: embedded NATS JetStream at %s\n", o.DB, ns.ClientURL())

	// The consumer prints each event as it arrives and counts them.
	got := make(chan outbox.Message, o.Orders)
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return err
	}
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		if m, err := natsoutbox.Decode(msg.Subject(), msg.Headers(), msg.Data()); err == nil {
			got <- m
		}
	})
	if err != nil {
		return err
	}
	defer cc.Stop()

	relay := &relayProcess{out: out, env: append(db.relayEnv(), "EXAMPLE_NATS="+ns.ClientURL())}
	if err := relay.start(); err != nil {
		return err
	}
	defer relay.stop()

	received := map[string]bool{}
	receive := func(m outbox.Message) {
		fmt.Fprintf(out, "  consumer: %s %s %s\n", m.Topic, m.Key, m.Payload)
		received[m.ID.String()] = true
	}
	for i := 1; i <= o.Orders; i++ {
		id := fmt.Sprintf("order-%03d", i)
		total := 1000 + 37*i
		if err := db.placeOrder(ctx, id, total); err != nil {
			return fmt.Errorf("placing %s: %w", id, err)
		}
		fmt.Fprintf(out, "placed %s (total %d) and enqueued orders.created in the same transaction\n", id, total)
		if o.Kill && i == o.Orders/2 {
			relay.kill()
			fmt.Fprintln(out, "relay: killed with SIGKILL (whatever it was publishing was not recorded)")
		}
		if o.Kill && i == o.Orders/2+3 {
			if err := relay.start(); err != nil {
				return err
			}
			fmt.Fprintln(out, "relay: started again")
		}
		drain(got, receive)
		time.Sleep(30 * time.Millisecond)
	}
	deadline := time.After(time.Minute)
	for len(received) < o.Orders {
		select {
		case m := <-got:
			receive(m)
		case <-deadline:
			return fmt.Errorf("only %d of %d events arrived within a minute", len(received), o.Orders)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	relay.stop()
	info, err := stream.Info(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "done: %d orders placed, %d events received, %d stored in the stream, none lost, none twice.\n",
		o.Orders, len(received), info.State.Msgs)
	if int(info.State.Msgs) != o.Orders {
		return fmt.Errorf("the stream holds %d messages for %d orders", info.State.Msgs, o.Orders)
	}
	return nil
}

func drain(got chan outbox.Message, receive func(outbox.Message)) {
	for {
		select {
		case m := <-got:
			receive(m)
		default:
			return
		}
	}
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// relayProcess runs the relay as a child process of this program (this
// same binary, told so by an environment variable), so that it can be
// killed for real.
type relayProcess struct {
	out io.Writer
	env []string
	cmd *exec.Cmd
}

const relayChildVar = "BULWARK_OUTBOX_EXAMPLE_RELAY"

func (r *relayProcess) start() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	r.cmd = exec.Command(exe, "-test.run=^$")
	r.cmd.Env = append(append(os.Environ(), relayChildVar+"=1"), r.env...)
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	return r.cmd.Start()
}

func (r *relayProcess) kill() {
	if r.cmd != nil {
		_ = r.cmd.Process.Signal(syscall.SIGKILL)
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// stop asks the relay to finish its batch and exit (SIGTERM), killing it
// after five seconds.
func (r *relayProcess) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
	r.cmd = nil
}
