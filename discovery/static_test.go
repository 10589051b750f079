package discovery_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bulwark-go/bulwark/discovery"
	"github.com/bulwark-go/bulwark/discovery/discoverytest"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
)

func TestStaticConformance(t *testing.T) {
	leakcheck.Check(t)
	discoverytest.Run(t, func(t *testing.T) discoverytest.Harness {
		r := discovery.NewStatic()
		return discoverytest.Harness{Resolver: r, Set: func(t *testing.T, service string, eps []discovery.Endpoint) {
			if err := r.Set(service, eps); err != nil {
				t.Fatal(err)
			}
		}}
	})
}

func TestStaticRefusesBadAddressesAndKeepsTheSet(t *testing.T) {
	r := discovery.NewStatic()
	if err := r.Set("orders", []discovery.Endpoint{{Addr: "10.0.0.1:80"}}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "10.0.0.1", ":80", "10.0.0.1:"} {
		err := r.Set("orders", []discovery.Endpoint{{Addr: "10.0.0.2:80"}, {Addr: bad}})
		if err == nil || !strings.Contains(err.Error(), "endpoint 1") {
			t.Fatalf("Set with Addr %q: err = %v, want one naming endpoint 1", bad, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := r.Watch(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if u := <-ch; len(u.Endpoints) != 1 || u.Endpoints[0].Addr != "10.0.0.1:80" {
		t.Fatalf("set after refused Sets = %v, want the first one", u.Endpoints)
	}
}

func TestStaticSlowWatcherGetsTheLatestSet(t *testing.T) {
	r := discovery.NewStatic()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := r.Watch(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"} {
		if err := r.Set("orders", []discovery.Endpoint{{Addr: a}}); err != nil {
			t.Fatal(err)
		}
	}
	if u := <-ch; len(u.Endpoints) != 1 || u.Endpoints[0].Addr != "10.0.0.3:80" {
		t.Fatalf("first read after three Sets = %v, want only the latest set", u.Endpoints)
	}
}

func TestZeroStaticPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "without NewStatic") {
			t.Fatalf("recover() = %v", r)
		}
	}()
	var s discovery.Static
	_ = s.Set("orders", nil)
}
