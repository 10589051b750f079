package bulwarkhttp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
)

const (
	// maxDrain is the most of an unwanted response body read before closing
	// it, so that its connection can carry the next request. Bigger bodies
	// are cut off, at the cost of the connection.
	maxDrain = 64 << 10
	// drainTimeout bounds that reading, against a server that stalls
	// mid-body; after it the connection is dropped.
	drainTimeout = 250 * time.Millisecond
)

var errDiscarded = errors.New("bulwarkhttp: response discarded")

// attemptCancel ends an attempt's context.
type attemptCancel struct {
	cancel     context.CancelCauseFunc
	stopCaller func() bool // stops the caller's context from ending it
	once       sync.Once
}

// release ends the attempt's context once nothing reads from it any more.
func (c *attemptCancel) release() {
	c.once.Do(func() {
		c.stopCaller()
		c.cancel(context.Canceled)
	})
}

// body is a response body that releases its attempt's context when closed.
type body struct {
	io.ReadCloser
	cancel *attemptCancel
}

func (b *body) Close() error {
	err := b.ReadCloser.Close()
	b.cancel.release()
	return err
}

// writableBody is body for a 101 Switching Protocols response, whose body
// is also the connection to write to.
type writableBody struct {
	*body
	io.Writer
}

func wrapBody(rc io.ReadCloser, cancel *attemptCancel) io.ReadCloser {
	b := &body{ReadCloser: rc, cancel: cancel}
	if w, ok := rc.(io.ReadWriteCloser); ok {
		return &writableBody{body: b, Writer: w}
	}
	return b
}

// discard drains (a bounded amount, for a bounded time) and closes a
// response the caller will not get.
func discard(resp *http.Response) {
	if resp.ContentLength <= maxDrain {
		var guard *time.Timer
		if b, ok := resp.Body.(*body); ok {
			guard = time.AfterFunc(drainTimeout, func() { b.cancel.cancel(errDiscarded) })
		}
		_, _ = io.CopyN(io.Discard, resp.Body, maxDrain+1)
		if guard != nil {
			guard.Stop()
		}
	}
	resp.Body.Close()
}
