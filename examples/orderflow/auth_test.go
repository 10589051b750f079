package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/bulwark-go/bulwark/bulwarkhttp"
)

// TestServicesCheckTokensThemselves: a service behind authenticate runs a
// handler only for a request with a valid token of the issuer, whoever
// sends it: the processor's token and a client's pass, with the subject
// taken from the token (a forged X-Subject replaced); no token and every
// forgery are refused with 401 before the handler runs, and counted; a
// probe key is counted even though it is refused.
func TestServicesCheckTokensThemselves(t *testing.T) {
	iss, err := startIssuer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(iss.close)
	var ran []string
	srv, err := serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran = append(ran, r.Header.Get(subjectHeader))
		w.WriteHeader(http.StatusNoContent)
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.close)
	count := &counters{}
	if err := srv.authenticate("payments", iss.url(), count); err != nil {
		t.Fatal(err)
	}
	call := func(token, subject, key string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.url+"/charges", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if subject != "" {
			req.Header.Set(subjectHeader, subject)
		}
		if key != "" {
			req.Header.Set(bulwarkhttp.HeaderIdempotencyKey, key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	processor, err := iss.processorToken()
	if err != nil {
		t.Fatal(err)
	}
	web, err := iss.token("web")
	if err != nil {
		t.Fatal(err)
	}
	if got := call(processor, "", ""); got != http.StatusNoContent {
		t.Errorf("the processor's token: %d, want 204", got)
	}
	if got := call(web, "partner", ""); got != http.StatusNoContent {
		t.Errorf("a client's token with a forged X-Subject: %d, want 204", got)
	}
	if want := []string{processorSubject, "web"}; strings.Join(ran, ",") != strings.Join(want, ",") {
		t.Errorf("the handler saw subjects %v, want %v (taken from the tokens)", ran, want)
	}

	forgeries, err := iss.forgeries("web")
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	if got := call("", "web", ""); got != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", got)
	}
	refused++
	for name, token := range forgeries {
		if name == "no orders:write scope" {
			continue // a valid token: scopes are the gateway's routes' business
		}
		if got := call(token, "", probePrefix+name); got != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", name, got)
		}
		refused++
	}
	if len(ran) != 2 {
		t.Errorf("the handler ran %d times, want 2: a refused request reached it", len(ran))
	}
	if got := count.unauthenticated.Load(); got != int64(refused) {
		t.Errorf("%d refusals counted, want %d", got, refused)
	}
	if got := count.probesReached.Load(); got != int64(refused-1) {
		t.Errorf("%d probe keys counted, want %d", got, refused-1)
	}
}
