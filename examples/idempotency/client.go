package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/bulwark-go/bulwark/bulwarkhttp"
)

// client calls the payment service and retries: after a timeout, after a
// network error, and after 409 (the first request with the key is still
// running), always with the same idempotency key.
type client struct {
	base, token string
	http        *http.Client
	out         io.Writer
}

func newClient(base, token string, out io.Writer) *client {
	return &client{base: base, token: token, http: &http.Client{Timeout: 200 * time.Millisecond}, out: out}
}

type reply struct {
	status   int
	replayed bool
	body     string
}

// pay sends one payment under key, retrying up to 20 times, and returns
// the final reply. who labels the printed lines.
func (c *client) pay(ctx context.Context, who, key, body string) (reply, error) {
	for attempt := 1; attempt <= 20; attempt++ {
		r, err := c.send(ctx, key, body)
		switch {
		case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
			fmt.Fprintf(c.out, "  %s attempt %d: timed out, retrying with the same key\n", who, attempt)
		case err != nil:
			return reply{}, err
		case r.status == http.StatusConflict:
			fmt.Fprintf(c.out, "  %s attempt %d: 409, the first request is still running\n", who, attempt)
		default:
			return r, nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return reply{}, err
		}
	}
	return reply{}, fmt.Errorf("%s: gave up after 20 attempts", who)
}

func (c *client) send(ctx context.Context, key, body string) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/payments", bytes.NewReader([]byte(body)))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(bulwarkhttp.HeaderIdempotencyKey, strconv.Quote(key)) // the draft's structured-field string
	resp, err := c.http.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, replayed: resp.Header.Get(bulwarkhttp.HeaderIdempotentReplayed) == "true", body: string(bytes.TrimSpace(b))}, nil
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
