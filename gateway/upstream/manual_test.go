package upstream_test

import (
	"context"
	"errors"
	"testing"

	"github.com/bulwark-go/bulwark/gateway/upstream"
)

// TestEjectAndRestoreByHand: an ejected endpoint gets no request until
// Restore, and its state says so; unknown addresses are refused.
func TestEjectAndRestoreByHand(t *testing.T) {
	a, b := newServer(t), newServer(t)
	p, _, ev := startPool(t, upstream.Config{}, a, b)
	if err := p.Eject(a.addr()); err != nil {
		t.Fatal(err)
	}
	st := state(t, p, a.addr())
	if !st.Ejected || !st.Manual || !st.EjectedUntil.IsZero() {
		t.Fatalf("after Eject: %+v, want Ejected and Manual with no end", st)
	}
	for range 10 {
		if status, body, err := get(context.Background(), p); err != nil || status != 200 || body != b.addr() {
			t.Fatalf("got %d %q %v, want every request on %s", status, body, err, b.addr())
		}
	}
	if a.hits.Load() != 0 {
		t.Fatalf("the ejected endpoint got %d requests", a.hits.Load())
	}
	from := len(ev.list())
	if err := p.Restore(a.addr()); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, from, isKind("upstream.endpoint_restored"))
	if st := state(t, p, a.addr()); st.Ejected || st.Manual {
		t.Fatalf("after Restore: %+v", st)
	}
	for range 10 {
		_, _, _ = get(context.Background(), p)
	}
	if a.hits.Load() == 0 {
		t.Fatal("the restored endpoint got no request")
	}
	for _, err := range []error{p.Eject("192.0.2.1:1"), p.Restore("192.0.2.1:1")} {
		if !errors.Is(err, upstream.ErrUnknownEndpoint) {
			t.Fatalf("err = %v, want ErrUnknownEndpoint", err)
		}
	}
}
