package discoverytest

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/discovery"
)

func testCurrentSetFirst(t *testing.T, h Harness) {
	svc := h.service(t)
	want := h.endpoints("10.0.0.1:80", "10.0.0.2:80")
	h.Set(t, svc, want)
	h.await(t, h.watch(t, svc), want)
}

func testFollowsChanges(t *testing.T, h Harness) {
	svc := h.service(t)
	h.Set(t, svc, h.endpoints("10.0.0.1:80"))
	ch := h.watch(t, svc)
	h.await(t, ch, h.endpoints("10.0.0.1:80"))

	grown := h.endpoints("10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80")
	h.Set(t, svc, grown)
	h.await(t, ch, grown)

	h.Set(t, svc, []discovery.Endpoint{grown[2]})
	h.await(t, ch, []discovery.Endpoint{grown[2]})

	h.Set(t, svc, nil)
	h.await(t, ch, []discovery.Endpoint{})
}

func testSortedAndDistinct(t *testing.T, h Harness) {
	svc := h.service(t)
	h.Set(t, svc, h.endpoints("10.0.0.9:80", "10.0.0.1:80", "10.0.0.5:80"))
	ch := h.watch(t, svc)
	deadline := time.After(h.Wait)
	for {
		select {
		case u := <-ch:
			if u.Err != nil || len(u.Endpoints) < 3 {
				continue
			}
			for i := 1; i < len(u.Endpoints); i++ {
				if u.Endpoints[i-1].Addr >= u.Endpoints[i].Addr {
					t.Fatalf("endpoints not sorted by Addr without repeats: %v", addrs(u.Endpoints))
				}
			}
			return
		case <-deadline:
			t.Fatal("no update with the three endpoints")
		}
	}
}

func testUnknownServiceIsEmpty(t *testing.T, h Harness) {
	h.await(t, h.watch(t, h.service(t)), []discovery.Endpoint{})
}

func testServicesAreSeparate(t *testing.T, h Harness) {
	a, b := h.service(t), h.service(t)
	wantA := h.endpoints("10.0.1.1:80")
	h.Set(t, a, wantA)
	chA := h.watch(t, a)
	h.await(t, chA, wantA)

	wantB := h.endpoints("10.0.2.1:80", "10.0.2.2:80")
	h.Set(t, b, wantB)
	h.await(t, h.watch(t, b), wantB)
	// Whatever a watcher of a receives now must still be a's set.
	deadline := time.After(200 * time.Millisecond)
	for {
		select {
		case u := <-chA:
			if u.Err == nil && !h.same(u.Endpoints, wantA) {
				t.Fatalf("watcher of %s received %v after %s changed", a, addrs(u.Endpoints), b)
			}
		case <-deadline:
			return
		}
	}
}

func testEveryWatcherSeesChanges(t *testing.T, h Harness) {
	svc := h.service(t)
	h.Set(t, svc, h.endpoints("10.0.0.1:80"))
	chans := make([]<-chan discovery.Update, 5)
	for i := range chans {
		chans[i] = h.watch(t, svc)
		h.await(t, chans[i], h.endpoints("10.0.0.1:80"))
	}
	want := h.endpoints("10.0.0.1:80", "10.0.0.2:80")
	h.Set(t, svc, want)
	for _, ch := range chans {
		h.await(t, ch, want)
	}
}

func testClosesWhenContextEnds(t *testing.T, h Harness) {
	svc := h.service(t)
	h.Set(t, svc, h.endpoints("10.0.0.1:80"))
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := h.Resolver.Watch(ctx, svc)
	if err != nil {
		t.Fatal(err)
	}
	h.await(t, ch, h.endpoints("10.0.0.1:80"))
	cancel()
	deadline := time.After(h.Wait)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("watch channel still open %v after its context ended", h.Wait)
		}
	}
}

func testEmptyNameRefused(t *testing.T, h Harness) {
	if _, err := h.Resolver.Watch(context.Background(), ""); err == nil {
		t.Fatal("Watch of an empty service name succeeded; want an error")
	}
}
