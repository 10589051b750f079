package gateway_test

import (
	"fmt"
	"net/http"
	"testing"
)

// broken returns the address of an upstream that answers every request
// with 503, a failure for retries and outlier ejection. (A closed port is
// less dependable: under load another test's server may be given it.)
func broken(t *testing.T) string {
	return upstream(t, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "broken", http.StatusServiceUnavailable)
	})
}

// A retry goes to an endpoint the call has not tried: with two of three
// endpoints dead and three attempts, every request is answered, whichever
// endpoints the balancer picks first. (Outlier ejection is set too slow to
// help, so the retries alone must find the live endpoint.)
func TestRetriesGoToAnotherEndpoint(t *testing.T) {
	live := upstream(t, echo("live"))
	_, srv := start(t, doc(t, `
upstreams:
  a:
    endpoints: ["{dead1}", "{dead2}", "{live}"]
    balancer: least_outstanding
    outlier: {consecutive_failures: 1000}
routes: [{match: /a, upstream: a, policies: {retry: {max_attempts: 3, backoff: 1ms}}}]
`, "{dead1}", broken(t), "{dead2}", broken(t), "{live}", live), testConfig(), "/a")
	for i := range 60 {
		if status, _, _ := get(t, srv.URL+"/a"); status != http.StatusOK {
			t.Fatalf("request %d: status %d, want 200 from the live endpoint", i, status)
		}
	}
}

// The document's outlier settings reach the pool: a dead endpoint is ejected
// after one failure, so later requests go to the live one at the first
// attempt (no retry is configured).
func TestOutlierSettingsEjectADeadEndpoint(t *testing.T) {
	live := upstream(t, echo("live"))
	_, srv := start(t, doc(t, `
upstreams:
  a:
    endpoints: ["{dead}", "{live}"]
    outlier: {consecutive_failures: 1, ejection_time: 1h, max_ejected_percent: 50}
routes: [{match: /a, upstream: a}]
`, "{dead}", broken(t), "{live}", live), testConfig(), "/a")
	failed := 0
	for range 20 {
		if status, _, _ := get(t, srv.URL+"/a"); status != http.StatusOK {
			failed++
		}
	}
	if failed > 1 {
		t.Fatalf("%d of 20 requests failed, want at most the one that ejected the dead endpoint", failed)
	}
}

// A reload that adds an upstream swaps the table only once the new pool has
// its endpoints: the first request to the new route is answered, not 503.
func TestReloadedUpstreamIsReadyAtOnce(t *testing.T) {
	a := upstream(t, echo("a"))
	g, srv := start(t, doc(t, `
upstreams: {a: {endpoints: ["{a}"]}}
routes: [{match: /a, upstream: a}]
`, "{a}", a), testConfig(), "/a")
	for i := range 10 {
		name := fmt.Sprintf("n%d", i)
		err := g.Reload(doc(t, `
upstreams: {a: {endpoints: ["{a}"]}, {n}: {endpoints: ["{a}"]}}
routes: [{match: /a, upstream: a}, {match: /{n}, upstream: {n}}]
`, "{a}", a, "{n}", name))
		if err != nil {
			t.Fatal(err)
		}
		if status, _, _ := get(t, srv.URL+"/"+name); status != http.StatusOK {
			t.Fatalf("first request to the new upstream %s: status %d, want 200", name, status)
		}
	}
}
