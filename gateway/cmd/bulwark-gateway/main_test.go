package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func upstream(t *testing.T, name string) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s traceparent=%s", name, r.URL.Path, r.Header.Get("Traceparent"))
	}))
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

func waitBody(t *testing.T, client *http.Client, url, prefix string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.HasPrefix(string(b), prefix) {
				return string(b)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered %q (last: %v)", url, prefix, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServesReloadsAndShutsDown(t *testing.T) {
	a, b := upstream(t, "a"), upstream(t, "b")
	file := filepath.Join(t.TempDir(), "gateway.yaml")
	write := func(addr string) {
		tmp := file + ".tmp"
		doc := fmt.Sprintf("upstreams: {svc: {endpoints: [%q]}}\nroutes: [{match: orders.internal/, upstream: svc, policies: {retry: {max_attempts: 2}}}, {match: /api/, upstream: svc, strip_prefix: /api}]\n", addr)
		if err := os.WriteFile(tmp, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	write(a)
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	var logs syncBuffer
	go func() {
		done <- run(ctx, []string{"-config", file, "-listen", "127.0.0.1:0", "-reload-interval", "10ms"}, &logs, func(addr string) { addrs <- addr })
	}()
	addr := <-addrs
	client := &http.Client{}
	defer client.CloseIdleConnections()
	waitBody(t, client, "http://"+addr+"/api/x", "a /x")

	// Sidecar: a client with the gateway as its proxy; the trace context
	// it sends reaches the upstream.
	proxy, _ := url.Parse("http://" + addr)
	sidecar := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
	defer sidecar.CloseIdleConnections()
	req, _ := http.NewRequest("GET", "http://orders.internal/orders/1", nil)
	tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req.Header.Set("Traceparent", tp)
	resp, err := sidecar.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(body), "a /orders/1 traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-") {
		t.Fatalf("through the sidecar: %q", body)
	}

	write(b)
	waitBody(t, client, "http://"+addr+"/api/x", "b /x")
	os.WriteFile(file, []byte("routes: [{match: /, upstream: nowhere}]"), 0o600)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "reload refused") {
		if time.Now().After(deadline) {
			t.Fatalf("no refused reload in the log:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitBody(t, client, "http://"+addr+"/api/x", "b /x")

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestRefusesBadFlagsAndDocuments(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("routes: [{match: /, upstream: x, timeout: 1}]"), 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "-config or -config-etcd-key is required"},
		{[]string{"-config", bad, "-etcd", "127.0.0.1:2379", "-config-etcd-key", "/k"}, "-config and -config-etcd-key are exclusive"},
		{[]string{"-config-etcd-key", "/k"}, "-config-etcd-key needs -etcd"},
		{[]string{"-config", bad, "-etcd", " , "}, "-etcd must list host:port endpoints"},
		{[]string{"-config", bad}, "a duration must be a string"},
		{[]string{"-config", bad, "-trusted-proxies", "10.0.0.1"}, "is not a CIDR"},
		{[]string{"-config", bad, "-read-header-timeout", "0s"}, "-read-header-timeout must be > 0"},
		{[]string{"-config", filepath.Join(t.TempDir(), "missing.yaml")}, "no such file"},
	} {
		err := run(context.Background(), c.args, io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run(%q) = %v, want an error containing %q", c.args, err, c.want)
		}
	}
}

// TestDNSResolverIsRegistered: an upstream with discovery "dns" is served
// without any flag (an IP literal asks no nameserver).
func TestDNSResolverIsRegistered(t *testing.T) {
	a := upstream(t, "a")
	file := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(file, fmt.Appendf(nil, "upstreams: {svc: {discovery: dns, service: %q}}\nroutes: [{match: /, upstream: svc}]\n", a), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-config", file, "-listen", "127.0.0.1:0"}, io.Discard, func(addr string) { addrs <- addr })
	}()
	client := &http.Client{}
	defer client.CloseIdleConnections()
	waitBody(t, client, "http://"+<-addrs+"/x", "a /x")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
