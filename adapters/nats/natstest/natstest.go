// Package natstest runs NATS JetStream for tests: an embedded nats-server
// started in the test (nothing to install), or the server named by
// BULWARK_NATS_URL, and a stream of the test's own on either, deleted when
// the test ends. bulwark's own tests use it, and so may yours: importing it
// brings nats-server (as a library) into your test binary only.
package natstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Server starts an embedded nats-server with JetStream, storing in a
// temporary directory, on a free loopback port; it shuts down when the test
// ends. It returns the client URL.
func Server(t testing.TB) string {
	t.Helper()
	return NewBroker(t).URL
}

// Broker is an embedded nats-server with JetStream that a test can restart
// on the same port and storage, as a broker failing and coming back. What
// the server logs at notice level and above is kept and printed when the
// test fails, so a broker-side cause is never silent. Make one with
// NewBroker: Restart panics on the zero Broker.
type Broker struct {
	// URL is the client URL; it stays the same across restarts.
	URL  string
	t    testing.TB
	opts server.Options
	srv  *server.Server
	log  serverLog
}

// NewBroker starts a Broker on a free loopback port with storage in a
// temporary directory; it shuts down when the test ends.
func NewBroker(t testing.TB) *Broker {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("natstest: finding a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	b := &Broker{t: t, opts: server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	}}
	b.start()
	b.URL = b.srv.ClientURL()
	t.Cleanup(func() {
		b.stop()
		if t.Failed() {
			t.Logf("natstest: what the embedded nats-server logged:\n%s", b.log.String())
		}
	})
	return b
}

func (b *Broker) start() {
	b.t.Helper()
	opts := b.opts
	s, err := server.NewServer(&opts)
	if err != nil {
		b.t.Fatalf("natstest: %v", err)
	}
	s.SetLogger(&b.log, false, false)
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		b.t.Fatal("natstest: embedded nats-server did not start within 10s")
	}
	b.srv = s
}

func (b *Broker) stop() {
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
}

// Restart stops the server, waits down for the given time, and starts it
// again on the same port with the same storage. Clients see their
// connection drop and reconnect.
func (b *Broker) Restart(down time.Duration) {
	if b == nil || b.t == nil {
		panic("natstest: Broker used without NewBroker")
	}
	b.t.Helper()
	b.stop()
	time.Sleep(down)
	b.start()
}

// External returns BULWARK_NATS_URL (skipping or failing the test as
// testenv.Service does when it is unset).
func External(t testing.TB) string {
	t.Helper()
	return testenv.NATSURL(t)
}

// Connect connects to url, closed when the test ends.
func Connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("natstest: connecting to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	return nc, js
}

// Stream creates a stream with a random name that takes the subject prefix
// and everything under it (prefix and prefix.>), with the given duplicate
// window (0 for the server's default of two minutes), and deletes it when
// the test ends. It returns the stream and the prefix.
//
// A server-side failure to create the stream's storage (a 500 from the
// JetStream API) is tried again, up to five times, each failure logged: it
// is the broker's file store, not the code under test, and one such failure
// once failed a whole CI run.
func Stream(t testing.TB, js jetstream.JetStream, duplicates time.Duration) (jetstream.Stream, string) {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "T_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := jetstream.StreamConfig{Name: name, Subjects: []string{name, name + ".>"}, Duplicates: duplicates}
	st, err := js.CreateStream(ctx, cfg)
	for try := 1; err != nil && try < 5 && serverFault(err); try++ {
		t.Logf("natstest: creating stream %s failed on the server, trying again: %v", name, err)
		time.Sleep(200 * time.Millisecond)
		st, err = js.CreateStream(ctx, cfg)
	}
	if err != nil {
		t.Fatalf("natstest: creating stream %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, name)
	})
	return st, name
}

// serverFault reports whether err is the JetStream API's internal error.
func serverFault(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code == 500
}

// serverLog is a nats-server logger that keeps the last lines in memory.
type serverLog struct {
	mu    sync.Mutex
	lines []string
}

const serverLogLines = 200

func (l *serverLog) add(level, format string, v []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == serverLogLines {
		l.lines = l.lines[1:]
	}
	l.lines = append(l.lines, time.Now().Format("15:04:05.000 ")+level+" "+fmt.Sprintf(format, v...))
}

func (l *serverLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func (l *serverLog) Noticef(format string, v ...any) { l.add("INF", format, v) }
func (l *serverLog) Warnf(format string, v ...any)   { l.add("WRN", format, v) }
func (l *serverLog) Fatalf(format string, v ...any)  { l.add("FTL", format, v) }
func (l *serverLog) Errorf(format string, v ...any)  { l.add("ERR", format, v) }
func (l *serverLog) Debugf(format string, v ...any)  { l.add("DBG", format, v) }
func (l *serverLog) Tracef(format string, v ...any)  { l.add("TRC", format, v) }
