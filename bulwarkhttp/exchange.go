package bulwarkhttp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/bulwark-go/bulwark/retry"
)

// exchange is one RoundTrip: the attempts the policy makes and the response
// the caller will get.
type exchange struct {
	t          *Transport
	req        *http.Request
	replayable bool

	attempts  atomic.Int32
	bodyTaken atomic.Bool // req.Body went to the base transport, which closes it

	mu     sync.Mutex
	kept   *http.Response // the response the caller gets if the policy lets it
	keptOK bool           // kept is a success: later responses are not wanted
	done   bool           // finish ran: responses arriving now are not wanted
}

// attempt is the operation the policy runs: one round trip to the server.
func (x *exchange) attempt(ctx context.Context) error {
	n := x.attempts.Add(1)
	if n > 1 && !x.replayable {
		return retry.Permanent(fmt.Errorf("%w: %s %s", ErrNotReplayable, method(x.req), x.req.URL.Redacted()))
	}
	x.dropFailure()
	r, cancel, err := x.prepare(ctx, n)
	if err != nil {
		return x.mark(err)
	}
	// Until the headers arrive the attempt ends with the policy's context
	// (a timeout inside the chain); from then on, only with the caller's,
	// since the caller reads the body after the policies have returned.
	stopAttempt := context.AfterFunc(ctx, func() { cancel.cancel(context.Cause(ctx)) })
	resp, err := x.t.base.RoundTrip(r)
	stopAttempt()
	if err != nil {
		cancel.release()
		return x.mark(err)
	}
	resp.Body = wrapBody(resp.Body, cancel)
	failure := x.t.isFailure(resp)

	x.mu.Lock()
	if x.done || x.keptOK {
		x.mu.Unlock()
		discard(resp)
	} else {
		prev := x.kept
		x.kept, x.keptOK = resp, !failure
		x.mu.Unlock()
		if prev != nil {
			discard(prev)
		}
	}
	if failure {
		return x.mark(newStatusError(x.req, resp, x.t))
	}
	return nil
}

// dropFailure discards the failure response of an earlier attempt before a
// new one starts, so that its connection is free to carry the new one.
func (x *exchange) dropFailure() {
	x.mu.Lock()
	var prev *http.Response
	if !x.keptOK {
		prev, x.kept = x.kept, nil
	}
	x.mu.Unlock()
	if prev != nil {
		discard(prev)
	}
}

// prepare makes the request of attempt n: req itself on a context of the
// attempt's own, with a fresh body from GetBody after the first attempt.
func (x *exchange) prepare(ctx context.Context, n int32) (*http.Request, *attemptCancel, error) {
	var body io.ReadCloser
	if n > 1 && x.req.GetBody != nil {
		b, err := x.req.GetBody()
		if err != nil {
			return nil, nil, fmt.Errorf("bulwarkhttp: rewinding the request body: %w", err)
		}
		body = b
	}
	// Values come from the policy's context; cancellation from the caller's
	// and, until the headers arrive, the policy's.
	sendCtx, cancelCause := context.WithCancelCause(context.WithoutCancel(ctx))
	caller := x.req.Context()
	c := &attemptCancel{cancel: cancelCause}
	c.stopCaller = context.AfterFunc(caller, func() { cancelCause(context.Cause(caller)) })
	r := x.req.WithContext(sendCtx)
	if n > 1 {
		r.Body = body
	} else {
		x.bodyTaken.Store(true)
	}
	return r, c, nil
}

// mark returns err, marked retry.Permanent when trying again is pointless:
// the request may not be sent twice, or the server's certificate is bad.
func (x *exchange) mark(err error) error {
	if !x.replayable || permanent(err) {
		return retry.Permanent(err)
	}
	return err
}

func permanent(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		hostname  x509.HostnameError
	)
	return errors.As(err, &verify) || errors.As(err, &authority) || errors.As(err, &invalid) || errors.As(err, &hostname)
}

// finish turns the policy's verdict into RoundTrip's result.
func (x *exchange) finish(err error) (*http.Response, error) {
	x.mu.Lock()
	x.done = true
	kept, keptOK := x.kept, x.keptOK
	x.kept = nil
	x.mu.Unlock()

	if !x.bodyTaken.Load() && x.req.Body != nil {
		x.req.Body.Close()
	}
	if kept != nil {
		var se *StatusError
		switch {
		case err != nil && !errors.As(err, &se):
		case x.t.failureAsError && !keptOK:
			if err == nil { // the policy swallowed the failure
				err = newStatusError(x.req, kept, x.t)
			}
		default:
			return kept, nil
		}
		discard(kept)
		return nil, err
	}
	if err == nil {
		err = ErrNoResponse
	}
	return nil, err
}

func method(r *http.Request) string {
	if r.Method == "" {
		return http.MethodGet
	}
	return r.Method
}
