// Package natstest runs NATS JetStream for tests: an embedded nats-server
// started in the test, or the server named by BULWARK_NATS_URL, and a
// stream of the test's own on either.
package natstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Server starts an embedded nats-server with JetStream, storing in a
// temporary directory, on a random loopback port; it shuts down when the
// test ends. It returns the client URL.
func Server(t testing.TB) string {
	t.Helper()
	return ServerIn(t, t.TempDir())
}

// ServerIn is Server with JetStream's storage in dir, so that a test can
// stop a server and start another on the same data.
func ServerIn(t testing.TB, dir string) string {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("natstest: embedded nats-server did not start within 10s")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s.ClientURL()
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
func Stream(t testing.TB, js jetstream.JetStream, duplicates time.Duration) (jetstream.Stream, string) {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "T_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name, name + ".>"}, Duplicates: duplicates})
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
