package upstream_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/bulwark-go/bulwark/gateway/upstream"
)

// TestUpgradedConnectionStaysWritable: the body of a 101 Switching
// Protocols answer is still the io.ReadWriteCloser httputil.ReverseProxy
// needs to pass a WebSocket through, and closing it ends the request's
// count of outstanding requests.
func TestUpgradedConnectionStaysWritable(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		_ = rw.Flush()
		line, _ := rw.ReadString('\n')
		_, _ = rw.WriteString(line)
		_ = rw.Flush()
	}))
	defer s.Close()
	p, _, _ := startPool(t, upstream.Config{}, &server{Server: s})
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://svc/echo", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := p.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatal(resp.Status)
	}
	conn, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		t.Fatalf("body %T is not writable", resp.Body)
	}
	if _, err := io.WriteString(conn, "ping\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(conn).ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("%q %v", line, err)
	}
	if got := state(t, p, s.Listener.Addr().String()).Outstanding; got != 1 {
		t.Fatalf("outstanding while upgraded = %d, want 1", got)
	}
	conn.Close()
	if got := state(t, p, s.Listener.Addr().String()).Outstanding; got != 0 {
		t.Fatalf("outstanding after Close = %d, want 0", got)
	}
}
