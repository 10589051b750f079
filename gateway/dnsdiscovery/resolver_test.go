package dnsdiscovery_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock/clocktest"
	"github.com/bulwark-go/bulwark/discovery"
	"github.com/bulwark-go/bulwark/discovery/discoverytest"
	"github.com/bulwark-go/bulwark/gateway/dnsdiscovery"
	"github.com/google/uuid"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newResolver(t *testing.T, z *zone, cfg dnsdiscovery.Config) *dnsdiscovery.Resolver {
	t.Helper()
	cfg.Servers = []string{z.addr}
	r, err := dnsdiscovery.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestConformanceARecords(t *testing.T) {
	discoverytest.Run(t, func(t *testing.T) discoverytest.Harness {
		z := newZone(t)
		return discoverytest.Harness{
			Resolver: newResolver(t, z, dnsdiscovery.Config{MinRefresh: 20 * time.Millisecond}),
			Service:  func(*testing.T) string { return "svc-" + uuid.NewString()[:8] + ".test:80" },
			NoMeta:   true,
			Set: func(t *testing.T, service string, eps []discovery.Endpoint) {
				host, port, _ := net.SplitHostPort(service)
				var rrs []string
				for _, ep := range eps {
					ip, p, _ := net.SplitHostPort(ep.Addr)
					if p != port {
						t.Fatalf("A records carry no port: endpoint %s on a service of port %s", ep.Addr, port)
					}
					rrs = append(rrs, fmt.Sprintf("%s 0 IN A %s", fqdn(host), ip))
				}
				z.set(t, host, rrs...)
			},
		}
	})
}

func TestConformanceSRVRecords(t *testing.T) {
	discoverytest.Run(t, func(t *testing.T) discoverytest.Harness {
		z := newZone(t)
		return discoverytest.Harness{
			Resolver: newResolver(t, z, dnsdiscovery.Config{MinRefresh: 20 * time.Millisecond}),
			Service:  func(*testing.T) string { return "_svc-" + uuid.NewString()[:8] + "._tcp.test" },
			NoMeta:   true,
			Set: func(t *testing.T, service string, eps []discovery.Endpoint) {
				var rrs []string
				for _, ep := range eps {
					host, port, _ := net.SplitHostPort(ep.Addr)
					rrs = append(rrs, fmt.Sprintf("%s 0 IN SRV 10 5 %s %s.", fqdn(service), port, host))
				}
				z.set(t, service, rrs...)
			},
		}
	})
}

func fqdn(name string) string { return strings.TrimSuffix(name, ".") + "." }

func watch(t *testing.T, r *dnsdiscovery.Resolver, service string) <-chan discovery.Update {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := r.Watch(ctx, service)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		for range ch { // wait for the loop to end
		}
	})
	return ch
}

func next(t *testing.T, ch <-chan discovery.Update) discovery.Update {
	t.Helper()
	select {
	case u := <-ch:
		return u
	case <-time.After(5 * time.Second):
		t.Fatal("no update within 5s")
	}
	return discovery.Update{}
}

func addrs(eps []discovery.Endpoint) string {
	var s []string
	for _, ep := range eps {
		s = append(s, ep.Addr)
	}
	return strings.Join(s, ",")
}

func TestAAndAAAARecordsWithThePort(t *testing.T) {
	z := newZone(t)
	z.set(t, "orders.test", "orders.test. 60 IN A 10.0.0.2", "orders.test. 60 IN A 10.0.0.1", "orders.test. 60 IN AAAA ::1")
	u := next(t, watch(t, newResolver(t, z, dnsdiscovery.Config{}), "orders.test:8080"))
	if u.Err != nil || addrs(u.Endpoints) != "10.0.0.1:8080,10.0.0.2:8080,[::1]:8080" {
		t.Fatalf("%v %v", addrs(u.Endpoints), u.Err)
	}
}

func TestSRVRecordsCarryPriorityAndWeight(t *testing.T) {
	z := newZone(t)
	z.set(t, "_http._tcp.orders.test", "_http._tcp.orders.test. 60 IN SRV 10 30 8081 b.orders.test.", "_http._tcp.orders.test. 60 IN SRV 20 70 8080 a.orders.test.")
	u := next(t, watch(t, newResolver(t, z, dnsdiscovery.Config{}), "_http._tcp.orders.test"))
	if u.Err != nil || addrs(u.Endpoints) != "a.orders.test:8080,b.orders.test:8081" {
		t.Fatalf("%v %v", addrs(u.Endpoints), u.Err)
	}
	if m := u.Endpoints[0].Meta; m["priority"] != "20" || m["weight"] != "70" {
		t.Fatalf("Meta = %v", m)
	}
}

// TestRefreshFollowsTheTTL: a name is asked again when its TTL ends, not
// before, and within MinRefresh and MaxRefresh.
func TestRefreshFollowsTheTTL(t *testing.T) {
	for _, tc := range []struct {
		ttl  int
		want time.Duration
	}{
		{30, 30 * time.Second},
		{0, 2 * time.Second},    // MinRefresh
		{3600, 1 * time.Minute}, // MaxRefresh
	} {
		t.Run(fmt.Sprint(tc.ttl), func(t *testing.T) {
			z := newZone(t)
			clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			z.set(t, "orders.test", fmt.Sprintf("orders.test. %d IN A 10.0.0.1", tc.ttl))
			ch := watch(t, newResolver(t, z, dnsdiscovery.Config{Clock: clk, MinRefresh: 2 * time.Second, MaxRefresh: time.Minute}), "orders.test:80")
			if u := next(t, ch); addrs(u.Endpoints) != "10.0.0.1:80" {
				t.Fatal(u)
			}
			z.set(t, "orders.test", fmt.Sprintf("orders.test. %d IN A 10.0.0.2", tc.ttl))
			clk.BlockUntil(1)
			queries := z.queries.Load()
			clk.Advance(tc.want - time.Millisecond)
			select {
			case u := <-ch:
				t.Fatalf("refreshed before %v: %v", tc.want, u)
			case <-time.After(50 * time.Millisecond):
			}
			if z.queries.Load() != queries {
				t.Fatalf("asked again before %v", tc.want)
			}
			clk.Advance(time.Millisecond)
			if u := next(t, ch); addrs(u.Endpoints) != "10.0.0.2:80" {
				t.Fatalf("after %v: %v", tc.want, u)
			}
		})
	}
}

func TestErrorsAreDeliveredAndTheWatchGoesOn(t *testing.T) {
	z := newZone(t)
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	z.set(t, "orders.test", "orders.test. 5 IN A 10.0.0.1")
	ch := watch(t, newResolver(t, z, dnsdiscovery.Config{Clock: clk}), "orders.test:80")
	if u := next(t, ch); addrs(u.Endpoints) != "10.0.0.1:80" {
		t.Fatal(u)
	}
	z.servfail.Store(true)
	clk.BlockUntil(1)
	clk.Advance(5 * time.Second)
	u := next(t, ch)
	if u.Err == nil || u.Endpoints != nil || !strings.Contains(u.Err.Error(), "SERVFAIL") {
		t.Fatalf("update = %+v, want an error naming SERVFAIL and no set", u)
	}
	z.servfail.Store(false)
	z.set(t, "orders.test", "orders.test. 5 IN A 10.0.0.3")
	clk.BlockUntil(1)
	clk.Advance(time.Second) // MinRefresh after an error
	if u := next(t, ch); u.Err != nil || addrs(u.Endpoints) != "10.0.0.3:80" {
		t.Fatalf("after the server recovered: %+v", u)
	}
}

func TestUnknownNameIsEmptyAndUnchangedSetsAreNotRepeated(t *testing.T) {
	z := newZone(t)
	clk := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ch := watch(t, newResolver(t, z, dnsdiscovery.Config{Clock: clk}), "nowhere.test:80")
	if u := next(t, ch); u.Err != nil || u.Endpoints == nil || len(u.Endpoints) != 0 {
		t.Fatalf("NXDOMAIN: %+v, want an empty set", u)
	}
	clk.BlockUntil(1)
	clk.Advance(time.Second)
	clk.BlockUntil(1) // asked again, the same empty answer
	select {
	case u := <-ch:
		t.Fatalf("unchanged set delivered again: %+v", u)
	default:
	}
}

func TestIPLiteralIsItsOwnEndpoint(t *testing.T) {
	r, err := dnsdiscovery.New(dnsdiscovery.Config{Servers: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if u := next(t, watch(t, r, "10.1.2.3:9000")); u.Err != nil || addrs(u.Endpoints) != "10.1.2.3:9000" {
		t.Fatal(u)
	}
}

func TestNoServerAnsweringIsAnError(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0") // reads nothing: every query times out
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	r, err := dnsdiscovery.New(dnsdiscovery.Config{Servers: []string{pc.LocalAddr().String()}, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if u := next(t, watch(t, r, "orders.test:80")); u.Err == nil || !strings.Contains(u.Err.Error(), pc.LocalAddr().String()) {
		t.Fatalf("%+v, want an error naming the server", u)
	}
}

func TestWatchRefusesBadNames(t *testing.T) {
	r, err := dnsdiscovery.New(dnsdiscovery.Config{Servers: []string{"127.0.0.1:53"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", "  ", "orders.test", "orders.test:0", "orders.test:x", ":80", "_http.orders", "_http.tcp.orders.test"} {
		if _, err := r.Watch(context.Background(), name); err == nil {
			t.Errorf("Watch(%q) succeeded", name)
		}
	}
}

func TestNewRefusesBadSettings(t *testing.T) {
	for field, cfg := range map[string]dnsdiscovery.Config{
		"Timeout":    {Servers: []string{"127.0.0.1:53"}, Timeout: -1},
		"MinRefresh": {Servers: []string{"127.0.0.1:53"}, MinRefresh: 2 * time.Hour},
		"MaxRefresh": {Servers: []string{"127.0.0.1:53"}, MinRefresh: time.Minute, MaxRefresh: time.Second},
		"Servers[1]": {Servers: []string{"127.0.0.1:53", "127.0.0.1"}},
	} {
		if _, err := dnsdiscovery.New(cfg); err == nil || !strings.Contains(err.Error(), "Config."+field+" must") {
			t.Errorf("%s: %v", field, err)
		}
	}
}

func TestZeroResolverPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "without New") {
			t.Fatalf("recover() = %v", r)
		}
	}()
	var r dnsdiscovery.Resolver
	_, _ = r.Watch(context.Background(), "orders.test:80")
}

// TestWatchEndsAtOnceWhileAQueryWaits: a watch whose query is waiting for
// a server that does not answer closes its channel as soon as its context
// ends, not when the query times out.
func TestWatchEndsAtOnceWhileAQueryWaits(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0") // reads nothing
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	r, err := dnsdiscovery.New(dnsdiscovery.Config{Servers: []string{pc.LocalAddr().String()}, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := r.Watch(ctx, "orders.test:80")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	if _, _, err := pc.ReadFrom(buf); err != nil { // the query is out
		t.Fatal(err)
	}
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("an update after the context ended")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch still open 5s after its context ended, with a 1 minute query timeout")
	}
}
