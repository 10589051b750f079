package console

import (
	"bytes"
	"fmt"
	"net/http"
	"time"
)

// heartbeat is how often a stream whose state has not changed sends a
// comment, so proxies keep the connection open.
const heartbeat = 15 * time.Second

// stream sends the state as a server-sent event named "state" at once and
// then each Interval when it changed, until the client goes or Close.
func (c *Console) stream(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	select {
	case <-c.closed:
		c.mu.Unlock()
		http.Error(w, "console: closed", http.StatusServiceUnavailable)
		return
	default:
	}
	c.streams.Add(1)
	c.mu.Unlock()
	defer c.streams.Done()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}

	ctx := r.Context()
	var last []byte
	quiet := time.Duration(0)
	for {
		data, err := c.encodeState(ctx)
		if err != nil {
			return
		}
		switch {
		case !bytes.Equal(data, last):
			if _, err := fmt.Fprintf(w, "event: state\ndata: %s\n\n", data); err != nil {
				return
			}
			last, quiet = data, 0
		case quiet >= heartbeat:
			if _, err := fmt.Fprint(w, ": still here\n\n"); err != nil {
				return
			}
			quiet = 0
		}
		if err := rc.Flush(); err != nil {
			return
		}
		t := c.cfg.Clock.NewTimer(c.cfg.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-c.closed:
			t.Stop()
			return
		case <-t.C():
		}
		quiet += c.cfg.Interval
	}
}
