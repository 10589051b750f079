package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/configsource"
	"github.com/bulwark-go/bulwark/discovery"
	"github.com/bulwark-go/bulwark/gateway"
)

func TestReloadUnderLoadDropsNoRequest(t *testing.T) {
	a1, a2 := upstream(t, echo("a1")), upstream(t, echo("a2"))
	docs := []*gateway.Document{
		doc(t, `
upstreams: {svc: {endpoints: ["{a1}"]}}
routes: [{match: /svc/, upstream: svc}]
`, "{a1}", a1),
		doc(t, `
upstreams: {svc: {endpoints: ["{a1}", "{a2}"]}}
routes:
  - {match: /svc/, upstream: svc, strip_prefix: /svc, rewrite_prefix: /svc, policies: {retry: {max_attempts: 2}}}
  - {match: /other/, upstream: svc}
`, "{a1}", a1, "{a2}", a2),
		doc(t, `
upstreams: {svc: {endpoints: ["{a2}"]}}
routes: [{match: /svc/, upstream: svc, timeout: 1m, policies: {bulkhead: {max_concurrent: 5000}}}]
`, "{a2}", a2),
	}
	g, srv := start(t, docs[0], testConfig(), "/svc/x")

	const (
		total = 2000
		rate  = time.Millisecond // between starts: 1,000 requests/s
	)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	defer client.CloseIdleConnections()
	var ok atomic.Int64
	var failures sync.Map
	stop := make(chan struct{})
	began := time.Now()
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(stop)
		var requests sync.WaitGroup
		defer requests.Wait()
		for i := range total {
			// On schedule: request i starts i ms after the first; a
			// dispatcher that fell behind catches up at once.
			time.Sleep(time.Until(began.Add(time.Duration(i) * rate)))
			requests.Go(func() {
				resp, err := client.Get(fmt.Sprintf("%s/svc/%d", srv.URL, i))
				if err != nil {
					failures.Store(err.Error(), true)
					return
				}
				body := make([]byte, 64)
				n, _ := resp.Body.Read(body)
				resp.Body.Close()
				if resp.StatusCode == 200 && strings.HasPrefix(string(body[:n]), "/svc/") {
					ok.Add(1)
				} else {
					failures.Store(fmt.Sprintf("%d %q", resp.StatusCode, body[:n]), true)
				}
			})
		}
	})
	reloads := 0
	for reloading := true; reloading; {
		select {
		case <-stop:
			reloading = false
			continue
		default:
		}
		if err := g.Reload(docs[reloads%len(docs)]); err != nil {
			t.Fatal(err)
		}
		reloads++
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	failures.Range(func(k, _ any) bool {
		t.Errorf("a request failed during reloads: %v", k)
		return true
	})
	if ok.Load() != total {
		t.Fatalf("%d of %d requests answered by the upstream across %d reloads", ok.Load(), total, reloads)
	}
	t.Logf("%d requests in %v, all answered, across %d reloads", total, time.Since(began).Round(time.Millisecond), reloads)
}

// watchedResolver is a static resolver that tells when the last watch of
// a pool ended: the pool was closed.
type watchedResolver struct {
	*discovery.Static
	ended chan struct{}
}

func (w watchedResolver) Watch(ctx context.Context, service string) (<-chan discovery.Update, error) {
	ch, err := w.Static.Watch(ctx, service)
	context.AfterFunc(ctx, func() { close(w.ended) })
	return ch, err
}

func TestInFlightRequestsFinishOnTheTableTheyStartedOn(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	slow := upstream(t, func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		w.Write([]byte("finished"))
	})
	resolver := watchedResolver{Static: discovery.NewStatic(), ended: make(chan struct{})}
	if err := resolver.Set("slow", []discovery.Endpoint{{Addr: slow}}); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Resolvers = map[string]discovery.Resolver{"watched": resolver}
	fast := upstream(t, echo("fast"))
	g, srv := start(t, doc(t, `
upstreams: {slow: {discovery: watched}, fast: {endpoints: ["{f}"]}}
routes: [{match: /slow, upstream: slow}, {match: /fast, upstream: fast}]
`, "{f}", fast), cfg, "/fast")
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the server's cleanup, should the test fail early

	result := make(chan string, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/slow")
		if err != nil {
			result <- err.Error()
			return
		}
		defer resp.Body.Close()
		b := make([]byte, 16)
		n, _ := resp.Body.Read(b)
		result <- fmt.Sprintf("%d %s", resp.StatusCode, b[:n])
	}()
	<-entered
	// The new table has no /slow route and no slow upstream.
	if err := g.Reload(doc(t, `
upstreams: {fast: {endpoints: ["{f}"]}}
routes: [{match: /fast, upstream: fast}]
`, "{f}", fast)); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := get(t, srv.URL+"/slow"); status != http.StatusNotFound {
		t.Errorf("a new request for the removed route: %d, want 404", status)
	}
	select {
	case <-resolver.ended:
		t.Fatal("the removed upstream's pool was closed while a request on it was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	unblock()
	if got := <-result; got != "200 finished" {
		t.Fatalf("the request in flight during the reload got %q, want 200 finished", got)
	}
	select {
	case <-resolver.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the removed upstream's pool was not closed once its last request finished")
	}
}

func TestInvalidReloadKeepsTheTable(t *testing.T) {
	var events []bulwark.Event
	var mu sync.Mutex
	cfg := testConfig()
	cfg.Observer = bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		mu.Lock()
		defer mu.Unlock()
		if _, failed := e.(gateway.ReloadFailed); failed {
			events = append(events, e)
		}
	})
	g, srv := start(t, doc(t, `
upstreams: {a: {endpoints: ["{a}"]}}
routes: [{match: /a, upstream: a}]
`, "{a}", upstream(t, echo("a"))), cfg, "/a")

	bad := &gateway.Document{
		Upstreams: map[string]gateway.Upstream{"a": {Endpoints: []string{"nowhere"}}},
		Routes:    []gateway.Route{{Match: "/b", Upstream: "a"}},
	}
	err := g.Reload(bad)
	if err == nil || !strings.Contains(err.Error(), "upstreams.a.endpoints[0]") {
		t.Fatalf("Reload(bad) = %v, want an error naming upstreams.a.endpoints[0]", err)
	}
	noPolicy := doc(t, `
upstreams: {a: {endpoints: ["127.0.0.1:1"]}}
routes: [{match: /b, upstream: a, policy: audited}]
`)
	if err := g.Reload(noPolicy); err == nil || !strings.Contains(err.Error(), `routes[0].policy: no policy "audited"`) {
		t.Fatalf("Reload(unknown policy) = %v", err)
	}
	if status, body, _ := get(t, srv.URL+"/a"); status != 200 || body != "/a" {
		t.Fatalf("after refused reloads /a = %d %q, want the old table's answer", status, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 2 {
		t.Fatalf("events = %v, want two gateway.reload_failed", events)
	}
	for _, e := range events {
		if f, ok := e.(gateway.ReloadFailed); !ok || f.Err == nil || e.Kind() != "gateway.reload_failed" {
			t.Errorf("event %#v, want a ReloadFailed with its error", e)
		}
	}
}

func TestRunReloadsFromTheSource(t *testing.T) {
	file := filepath.Join(t.TempDir(), "gateway.yaml")
	write := func(s string) {
		t.Helper()
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	a, b := upstream(t, echo("a")), upstream(t, echo("b"))
	first := strings.ReplaceAll(`
upstreams: {svc: {endpoints: ["{a}"]}}
routes: [{match: /, upstream: svc}]
`, "{a}", a)
	write(first)
	src, err := configsource.NewFile(file, configsource.FileConfig{Interval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var failed atomic.Int32
	cfg := testConfig()
	cfg.Source = src
	cfg.Observer = bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) {
		if _, ok := e.(gateway.ReloadFailed); ok {
			failed.Add(1)
		}
	})
	d, err := gateway.Parse([]byte(first))
	if err != nil {
		t.Fatal(err)
	}
	_, srv := start(t, d, cfg, "/")

	write(strings.ReplaceAll(`
upstreams: {svc: {endpoints: ["{b}"]}}
routes: [{match: /, upstream: svc}]
`, "{b}", b))
	waitFor(t, "the new document to take over", func() bool {
		_, _, h := get(t, srv.URL+"/")
		return h.Get("X-Upstream") == "b"
	})
	write("upstreams: {svc: {endpoints: [\"bad\"]}}\nroutes: [{match: /, upstream: svc, timeout: -1s}]\n")
	waitFor(t, "the invalid document to be refused", func() bool { return failed.Load() > 0 })
	if _, _, h := get(t, srv.URL+"/"); h.Get("X-Upstream") != "b" {
		t.Fatalf("after an invalid document the upstream is %q, want b still", h.Get("X-Upstream"))
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
