// Package discoverytest is the conformance suite every discovery.Resolver
// passes. A driver's test calls Run with a function that returns a Harness
// over a fresh registry:
//
//	func TestConformance(t *testing.T) {
//		discoverytest.Run(t, func(t *testing.T) discoverytest.Harness {
//			r := discovery.NewStatic()
//			return discoverytest.Harness{Resolver: r, Set: func(t *testing.T, service string, eps []discovery.Endpoint) {
//				if err := r.Set(service, eps); err != nil {
//					t.Fatal(err)
//				}
//			}}
//		})
//	}
//
// The suite runs from any module; it needs no configuration and reports no
// events.
package discoverytest

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/discovery"
	"github.com/google/uuid"
)

// Harness is one registry under test.
type Harness struct {
	// Resolver watches the registry.
	Resolver discovery.Resolver
	// Set makes eps the registry's whole endpoint set of service, as
	// instances registering and leaving would; it fails the test when it
	// cannot.
	Set func(t *testing.T, service string, eps []discovery.Endpoint)
	// Service, when set, returns the name of a fresh service for a test
	// (a registry may need a prefix or a domain); by default the suite uses
	// "svc-" and a random suffix.
	Service func(t *testing.T) string
	// NoMeta says the registry cannot keep Endpoint.Meta (DNS); the suite
	// then neither sets nor checks it.
	NoMeta bool
	// Wait bounds how long a change may take to reach a watcher; 5s when
	// zero.
	Wait time.Duration
}

// Run runs the suite. newHarness is called once per subtest.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, h Harness)
	}{
		{"CurrentSetFirst", testCurrentSetFirst},
		{"FollowsChanges", testFollowsChanges},
		{"SortedAndDistinct", testSortedAndDistinct},
		{"UnknownServiceIsEmpty", testUnknownServiceIsEmpty},
		{"ServicesAreSeparate", testServicesAreSeparate},
		{"EveryWatcherSeesChanges", testEveryWatcherSeesChanges},
		{"ClosesWhenContextEnds", testClosesWhenContextEnds},
		{"EmptyNameRefused", testEmptyNameRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if h.Resolver == nil || h.Set == nil {
				t.Fatal("discoverytest: Harness needs Resolver and Set")
			}
			if h.Wait <= 0 {
				h.Wait = 5 * time.Second
			}
			tc.run(t, h)
		})
	}
}

func (h Harness) service(t *testing.T) string {
	if h.Service != nil {
		return h.Service(t)
	}
	return "svc-" + uuid.NewString()[:8]
}

func (h Harness) endpoints(addrs ...string) []discovery.Endpoint {
	eps := make([]discovery.Endpoint, len(addrs))
	for i, a := range addrs {
		eps[i] = discovery.Endpoint{Addr: a}
		if !h.NoMeta {
			eps[i].Meta = map[string]string{"zone": fmt.Sprintf("z%d", i)}
		}
	}
	return eps
}

func (h Harness) watch(t *testing.T, service string) <-chan discovery.Update {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := h.Resolver.Watch(ctx, service)
	if err != nil {
		t.Fatalf("Watch(%q): %v", service, err)
	}
	return ch
}

// await reads updates until one holds want, and fails the test when none does
// within the harness's wait.
func (h Harness) await(t *testing.T, ch <-chan discovery.Update, want []discovery.Endpoint) {
	t.Helper()
	deadline := time.After(h.Wait)
	var last []discovery.Endpoint
	for {
		select {
		case u, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed before delivering %v (last %v)", addrs(want), addrs(last))
			}
			if u.Err != nil {
				continue
			}
			if u.Endpoints == nil {
				t.Fatalf("update without Err has nil Endpoints; an empty set is an empty slice")
			}
			last = u.Endpoints
			if h.same(u.Endpoints, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no update delivered %v within %v (last %v)", addrs(want), h.Wait, addrs(last))
		}
	}
}

func (h Harness) same(got, want []discovery.Endpoint) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i].Addr != want[i].Addr {
			return false
		}
		if !h.NoMeta && !(len(got[i].Meta) == 0 && len(want[i].Meta) == 0) && !reflect.DeepEqual(got[i].Meta, want[i].Meta) {
			return false
		}
	}
	return true
}

func addrs(eps []discovery.Endpoint) []string {
	out := make([]string, len(eps))
	for i, ep := range eps {
		out[i] = ep.Addr
	}
	return out
}
