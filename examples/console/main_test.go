package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/console"
)

// TestConsoleExample starts the example, reads the console's address and
// token from what it prints, and uses the API: the state shows both
// policies, a dead letter, the refund needing attention and the parked
// projection; an operator resumes the refund and skips the malformed
// event.
func TestConsoleExample(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	r, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, w, options{addr: "127.0.0.1:0", token: "example-test-operator-token"})
		w.Close()
	}()
	lines := bufio.NewScanner(r)
	var url, token string
	for token == "" && lines.Scan() {
		line := lines.Text()
		if u, ok := strings.CutPrefix(line, "console: "); ok {
			url = u
		}
		if tk, ok := strings.CutPrefix(line, "operator token: "); ok {
			token = tk
		}
	}
	go func() { _, _ = io.Copy(io.Discard, r) }()
	if url == "" || token == "" {
		t.Fatalf("the example printed no address and token (%v)", <-done)
	}

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	state := func() console.State {
		resp, err := client.Get(url + "api/state")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st console.State
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	var st console.State
	deadline := time.Now().Add(30 * time.Second)
	for {
		st = state()
		ready := len(st.Outboxes) == 1 && st.Outboxes[0].DeadLetters > 0 && len(st.Sagas) == 1 && len(st.Sagas[0].Stuck) == 1 &&
			len(st.Projections) == 1 && st.Projections[0].Parked
		if ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the example's state never showed a dead letter, a stuck saga and a parked projection: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(st.Policies) != 2 || st.Policies[0].Name != "inventory" || st.Policies[0].Chaos == nil || !st.Policies[0].Chaos.Enabled {
		t.Fatalf("policies: %+v", st.Policies)
	}

	resp, err := client.Get(url + "api/session")
	if err != nil {
		t.Fatal(err)
	}
	var session struct {
		CSRF string `json:"csrf"`
	}
	err = json.NewDecoder(resp.Body).Decode(&session)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	act := func(path string) {
		req, _ := http.NewRequest(http.MethodPost, url+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-CSRF-Token", session.CSRF)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	act("api/sagas/refunds/" + st.Sagas[0].Stuck[0].ID + "/resume")
	act("api/projections/reports/order-totals/skip")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		st = state()
		if len(st.Sagas[0].Stuck) == 0 && !st.Projections[0].Parked && st.Projections[0].Lag == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the refund or the projection did not go on: %+v %+v", st.Sagas, st.Projections)
		}
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
