package strangler

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
)

// Stats counts the copies sent in Shadow mode since New.
type Stats struct {
	// Shadowed is the number of copies sent to the new side.
	Shadowed int64
	// Matched and Mismatched count the copies whose answer was compared
	// with the legacy side's: the same, or not.
	Matched, Mismatched int64
	// Failed counts the copies that timed out or whose handler panicked:
	// not compared.
	Failed int64
	// Skipped counts the safe requests not copied because
	// Shadow.MaxInFlight copies were in flight, or the Router was closed.
	Skipped int64
}

type counters struct {
	shadowed, matched, mismatched, failed, skipped atomic.Int64
}

// Stats returns the counts so far. A copy counted in Shadowed is counted in
// Matched, Mismatched or Failed once it has ended.
func (rt *Router) Stats() Stats {
	rt.check()
	return Stats{
		Shadowed: rt.stats.shadowed.Load(), Matched: rt.stats.matched.Load(),
		Mismatched: rt.stats.mismatched.Load(), Failed: rt.stats.failed.Load(), Skipped: rt.stats.skipped.Load(),
	}
}

// serveShadowed serves r from the legacy side, keeping what it answered,
// then sends a copy to the new side in the background, within the bound.
func (rt *Router) serveShadowed(s *settings, w http.ResponseWriter, r *http.Request) {
	if rt.inFlight.Add(1) > int64(s.cfg.Shadow.MaxInFlight) {
		rt.inFlight.Add(-1)
		rt.stats.skipped.Add(1)
		rt.legacy.ServeHTTP(w, r)
		return
	}
	handed := false // the copy's goroutine gives the slot back
	defer func() {
		if !handed {
			rt.inFlight.Add(-1)
		}
	}()
	tee := &teeWriter{ResponseWriter: w, kept: capture{limit: s.cfg.Shadow.MaxBodyBytes}}
	rt.legacy.ServeHTTP(tee, r)
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		rt.stats.skipped.Add(1)
		return
	}
	rt.shadows.Add(1)
	rt.mu.Unlock()
	handed = true
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), time.Duration(s.cfg.Shadow.Timeout))
	stop := context.AfterFunc(rt.base, cancel)
	copyReq := r.Clone(ctx)
	copyReq.Body = http.NoBody
	copyReq.Header.Set(HeaderShadow, "1")
	rt.stats.shadowed.Add(1)
	go func() {
		defer rt.shadows.Done()
		defer rt.inFlight.Add(-1)
		defer stop()
		defer cancel()
		rt.shadow(ctx, s, copyReq, tee.kept.status(), tee.kept.body)
	}()
}

// shadow runs the copy on the new side and compares its answer with the
// legacy side's.
func (rt *Router) shadow(ctx context.Context, s *settings, r *http.Request, legacyStatus int, legacyBody []byte) {
	rec := &capture{limit: s.cfg.Shadow.MaxBodyBytes, header: http.Header{}}
	if err := serveCopy(rt.modern, rec, r); err != nil {
		rt.stats.failed.Add(1)
		rt.observer.observe(ctx, ShadowFailed{Name: rt.name, Method: r.Method, Path: r.URL.Path, Err: err})
		return
	}
	if err := ctx.Err(); err != nil {
		rt.stats.failed.Add(1)
		rt.observer.observe(ctx, ShadowFailed{Name: rt.name, Method: r.Method, Path: r.URL.Path, Err: fmt.Errorf("strangler: the copy did not end in time: %w", context.Cause(ctx))})
		return
	}
	newStatus := rec.status()
	diff := ""
	if legacyStatus != newStatus {
		diff = fmt.Sprintf("status: legacy %d, new %d", legacyStatus, newStatus)
	} else {
		diff = compareBodies(legacyBody, rec.body, s.ignore)
	}
	if diff == "" {
		rt.stats.matched.Add(1)
		return
	}
	rt.stats.mismatched.Add(1)
	rt.observer.observe(ctx, Mismatch{Name: rt.name, Method: r.Method, Path: r.URL.Path, LegacyStatus: legacyStatus, NewStatus: newStatus, Diff: diff})
}

// serveCopy runs h, turning a panic into an error.
func serveCopy(h http.Handler, w http.ResponseWriter, r *http.Request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				err = fmt.Errorf("strangler: the new side aborted the copy")
				return
			}
			err = fmt.Errorf("strangler: the new side panicked: %v", p)
		}
	}()
	h.ServeHTTP(w, r)
	return nil
}

// capture keeps a response's status and the first limit bytes of its body.
type capture struct {
	code   int
	body   []byte
	limit  int64
	header http.Header // for a capture standing alone as a ResponseWriter
}

func (c *capture) status() int {
	if c.code == 0 {
		return http.StatusOK
	}
	return c.code
}

func (c *capture) keep(p []byte) {
	if room := c.limit - int64(len(c.body)); room > 0 {
		c.body = append(c.body, p[:min(int64(len(p)), room)]...)
	}
}

// The capture is the new side's ResponseWriter.
func (c *capture) Header() http.Header { return c.header }
func (c *capture) WriteHeader(code int) {
	if c.code == 0 && code >= 200 {
		c.code = code
	}
}
func (c *capture) Write(p []byte) (int, error) {
	c.WriteHeader(http.StatusOK)
	c.keep(p)
	return len(p), nil
}

// teeWriter passes the legacy side's answer to the client unchanged,
// keeping a copy of its status and body.
type teeWriter struct {
	http.ResponseWriter
	kept capture
}

func (t *teeWriter) WriteHeader(code int) {
	t.kept.WriteHeader(code)
	t.ResponseWriter.WriteHeader(code)
}

func (t *teeWriter) Write(p []byte) (int, error) {
	t.kept.WriteHeader(http.StatusOK)
	n, err := t.ResponseWriter.Write(p)
	t.kept.keep(p[:n])
	return n, err
}

// Flush passes a flush on, when the client's writer can.
func (t *teeWriter) Flush() {
	if f, ok := t.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the client's writer.
func (t *teeWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }
