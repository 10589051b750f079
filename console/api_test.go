package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/console"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/stretchr/testify/require"
)

func TestStateShowsEverythingButSecrets(t *testing.T) {
	s := newSystem(t, nil)
	resp, err := http.Get(s.server.URL + "/ops/api/state")
	require.NoError(t, err)
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	for _, secret := range []string{token, "s3cr3t", "alice"} {
		require.NotContains(t, string(raw), secret)
	}
	var st console.State
	require.NoError(t, json.Unmarshal(raw, &st))
	require.Len(t, st.Policies, 1)
	p := st.Policies[0]
	require.Equal(t, "dep", p.Name)
	require.Equal(t, []string{"circuit_breaker", "bulkhead", "timeout"}, p.Parts)
	require.Equal(t, "closed", p.Breaker.State)
	require.Equal(t, console.BulkheadState{Limit: 4}, *p.Bulkhead)
	require.Equal(t, 4, p.Settings.Bulkhead.MaxConcurrent)
	ob := st.Outboxes[0]
	require.Equal(t, "orders", ob.Name)
	require.Equal(t, 1, ob.DeadLetters)
	require.Equal(t, "broker down", ob.Letters[0].LastError)
	require.Equal(t, 19, ob.Letters[0].Bytes)
	require.Equal(t, "order-1", st.Sagas[0].Stuck[0].ID)
	require.True(t, st.Projections[0].Parked)
	require.Equal(t, int64(8), st.Projections[0].FailedPosition)
	require.JSONEq(t, `{"routes":1}`, string(st.Components[0].Snapshot))
	require.Equal(t, []string{"drain"}, st.Components[0].Actions)
}

func TestActionsDoWhatTheySay(t *testing.T) {
	s := newSystem(t, nil)
	ctx := context.Background()
	p, err := s.set.Policy("dep")
	require.NoError(t, err)

	status, body := s.post(t, "/api/policies/dep/breaker/force-open", "")
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "forced-open", s.state(t).Policies[0].Breaker.State)
	require.Error(t, p.Do(ctx, func(context.Context) error { return nil }))
	status, body = s.post(t, "/api/policies/dep/breaker/reset", "")
	require.Equal(t, http.StatusOK, status, body)
	require.NoError(t, p.Do(ctx, func(context.Context) error { return nil }))

	status, body = s.post(t, "/api/policies/dep/settings", `{"bulkhead": {"max_concurrent": 9}, "circuit_breaker": {"consecutive_failures": 3, "open_wait": "1h"}}`)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, 9, p.Parts().Bulkhead.Limit())
	require.Nil(t, p.Parts().Timeout, "a part left out of the settings leaves the chain")

	status, body = s.post(t, "/api/policies/dep/settings", `{"bulkhead": {"max_concurrent": -1}}`)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "bulkhead: Config.MaxConcurrent")
	status, body = s.post(t, "/api/policies/dep/settings", `{"bulkhead": {"max_concurent": 3}}`)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "max_concurent")
	require.Equal(t, 9, p.Parts().Bulkhead.Limit(), "a refused document changed the settings")
	status, _ = s.post(t, "/api/policies/nope/settings", `{}`)
	require.Equal(t, http.StatusNotFound, status)

	resp, err := http.Get(s.server.URL + "/ops/api/policies/dep/settings")
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.JSONEq(t, `{"bulkhead": {"max_concurrent": 9}, "circuit_breaker": {"consecutive_failures": 3, "open_wait": "1h0m0s"}}`, string(raw))

	id := s.state(t).Outboxes[0].Letters[0].ID
	status, body = s.post(t, "/api/outboxes/orders/dead-letters/"+id+"/replay", "")
	require.Equal(t, http.StatusOK, status, body)
	ob := s.state(t).Outboxes[0]
	require.Equal(t, 0, ob.DeadLetters)
	require.Equal(t, 1, ob.Pending)
	status, _ = s.post(t, "/api/outboxes/orders/dead-letters/"+id+"/discard", "")
	require.Equal(t, http.StatusNotFound, status, "discarding a letter that is no longer dead")
	status, _ = s.post(t, "/api/outboxes/orders/dead-letters/not-a-uuid/replay", "")
	require.Equal(t, http.StatusBadRequest, status)

	status, body = s.post(t, "/api/sagas/checkout/order-1/abandon", `{}`)
	require.Equal(t, http.StatusBadRequest, status, "abandoning without a reason: %s", body)
	status, body = s.post(t, "/api/sagas/checkout/order-1/abandon", `{"reason": "refunded by hand"}`)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, []string{"order-1 abandon: refunded by hand (by alice)"}, s.sagas.log)
	status, body = s.post(t, "/api/sagas/checkout/order-1/resume", "")
	require.Equal(t, http.StatusConflict, status, body)

	status, body = s.post(t, "/api/projections/reports/totals/skip", "")
	require.Equal(t, http.StatusOK, status, body)
	status, body = s.post(t, "/api/projections/reports/nope/rebuild", "")
	require.Equal(t, http.StatusConflict, status, body)
	require.Equal(t, []string{"totals skip"}, s.proj.log)

	status, body = s.post(t, "/api/components/gateway/drain", `{"target": "10.0.0.1:80"}`)
	require.Equal(t, http.StatusOK, status, body)
	status, _ = s.post(t, "/api/components/gateway/explode", `{}`)
	require.Equal(t, http.StatusNotFound, status)
	require.Equal(t, []string{"drain 10.0.0.1:80"}, s.comp.log)

	audit := s.audit.String()
	for _, want := range []string{`"action":"POST /api/policies/{name}/breaker/force-open"`, `"target":"dep"`, `"target":"checkout/order-1"`, `"outcome":"failed"`} {
		require.Contains(t, audit, want)
	}
	require.NotContains(t, audit, token)
}

func TestNewRefusesBadSettings(t *testing.T) {
	for _, c := range []struct {
		cfg  console.Config
		want string
	}{
		{console.Config{Interval: time.Millisecond}, "Config.Interval"},
		{console.Config{DeadLetters: 1001}, "Config.DeadLetters"},
		{console.Config{Tokens: map[string]string{"bob": "short"}}, `Config.Tokens["bob"]`},
		{console.Config{Outboxes: map[string]console.Outbox{"a/b": nil}}, "Config.Outboxes"},
		{console.Config{Sagas: map[string]console.Sagas{"s": nil}}, `Config.Sagas["s"] is nil`},
		{console.Config{TrustedOrigins: []string{"not a url"}}, "Config.TrustedOrigins"},
	} {
		_, err := console.New(c.cfg)
		require.ErrorContains(t, err, c.want)
	}
	c, err := console.New(console.Config{})
	require.NoError(t, err)
	require.NoError(t, c.Close(context.Background()))
}

func TestCustomAuthenticator(t *testing.T) {
	s := newSystem(t, func(c *console.Config) {
		c.Authenticator = console.AuthenticatorFunc(func(r *http.Request) (string, error) {
			if r.Header.Get("X-Operator") == "" {
				return "", errors.New("no operator header")
			}
			return r.Header.Get("X-Operator"), nil
		})
	})
	csrf, ck := s.session(t)
	status, _ := s.do(t, "/api/policies/dep/breaker/force-open", "", map[string]string{"Authorization": "Bearer " + token, "X-CSRF-Token": csrf}, ck)
	require.Equal(t, http.StatusUnauthorized, status, "Tokens are unused beside an Authenticator")
	status, _ = s.do(t, "/api/policies/dep/breaker/force-open", "", map[string]string{"X-Operator": "carol", "X-CSRF-Token": csrf}, ck)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, s.audit.String(), `"operator":"carol"`)
}

// TestEventsDeliverABreakerStateChange reads the event stream while the
// policy's dependency fails: the breaker's opening arrives as a state
// event, and Close ends the stream.
func TestEventsDeliverABreakerStateChange(t *testing.T) {
	leakcheck.Check(t)
	s := newSystem(t, func(c *console.Config) { c.Interval = 20 * time.Millisecond })
	resp, err := http.Get(s.server.URL + "/ops/api/events")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	events := make(chan console.State)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		name := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && name == "state":
				var st console.State
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &st) == nil {
					events <- st
				}
			}
		}
	}()
	first := <-events
	require.Equal(t, "closed", first.Policies[0].Breaker.State)

	p, err := s.set.Policy("dep")
	require.NoError(t, err)
	for range 3 {
		_ = p.Do(context.Background(), func(context.Context) error { return errors.New("dependency down") })
	}
	deadline := time.After(10 * time.Second)
	for opened := false; !opened; {
		select {
		case st, ok := <-events:
			require.True(t, ok, "the stream ended")
			opened = st.Policies[0].Breaker.State == "open"
		case <-deadline:
			t.Fatal("no event showed the breaker open")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, s.console.Close(ctx))
	for range events {
	}
}

func TestThePageAndItsAssets(t *testing.T) {
	s := newSystem(t, nil)
	for path, want := range map[string]string{
		"/ops/":                   "<title>bulwark console</title>",
		"/ops/assets/console.js":  "EventSource",
		"/ops/assets/console.css": ".state-open",
	} {
		resp, err := http.Get(s.server.URL + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Contains(t, string(body), want, path)
		require.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'", path)
		require.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"), path)
	}
}

func TestZeroConsolePanics(t *testing.T) {
	var c console.Console
	for name, f := range map[string]func(){
		"ServeHTTP": func() { c.ServeHTTP(nil, nil) },
		"Close":     func() { _ = c.Close(context.Background()) },
		"Observe":   func() { c.Observe(context.Background(), nil) },
	} {
		require.PanicsWithValue(t, "console: Console used without New", f, name)
	}
}

func TestHeadOfTheEventStreamEnds(t *testing.T) {
	s := newSystem(t, nil)
	resp, err := http.Head(s.server.URL + "/ops/api/events")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, s.console.Close(ctx), "a HEAD left a stream open")
}
