package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The HTTP header fields Middleware reads and writes.
const (
	// KeyHeader carries the client's idempotency key (IETF httpapi draft
	// "The Idempotency-Key HTTP Header Field").
	KeyHeader = "Idempotency-Key"
	// ReplayedHeader is set to "true" on a response replayed from the store.
	ReplayedHeader = "Idempotent-Replayed"
)

// MiddlewareConfig configures a Middleware.
type MiddlewareConfig struct {
	// Keeper holds the records. Its Wait decides whether a duplicate of a
	// request in flight waits for the first one's response or gets 409 at
	// once. Required.
	Keeper *Keeper

	// Methods lists the request methods that take an idempotency key;
	// requests with other methods pass through untouched. Must not be empty.
	Methods []string

	// Required makes a missing Idempotency-Key a 400 Bad Request. Off (the
	// zero value): requests without a key pass through untouched.
	Required bool

	// Scope returns the caller's identity or tenant (the authenticated
	// principal, say); records of different scopes never meet, so one client
	// cannot receive another's response by guessing its key. Nil puts every
	// caller in one scope: use that only when one client owns the service.
	Scope func(r *http.Request) string

	// Fingerprint returns what identifies the request's content; the same
	// key with another fingerprint gets 422. Nil means a SHA-256 of the
	// method, the request URI and the body.
	Fingerprint func(r *http.Request, body []byte) []byte

	// MaxBodyBytes bounds the request bodies read for the fingerprint;
	// larger bodies get 413. Must be > 0.
	MaxBodyBytes int64

	// MaxKeyLength bounds the key's length; longer keys get 400. Must be > 0.
	MaxKeyLength int

	// Retryable, if set, reports the response statuses that are safe to
	// retry: for those the key is released instead of the response stored,
	// so a retry runs the handler again. Nil stores every response, error
	// responses included, as Stripe does.
	Retryable func(status int) bool

	// Logger receives store failures that cannot reach the client (a
	// response that could not be stored). Nil means slog.Default().
	Logger *slog.Logger
}

// DefaultMiddlewareConfig returns a MiddlewareConfig for POST and PATCH,
// with keys optional, one scope, 1 MiB bodies and 255-byte keys. Set Keeper
// (and, in a service with several clients, Scope) before calling
// NewMiddleware.
func DefaultMiddlewareConfig() MiddlewareConfig {
	return MiddlewareConfig{
		Methods:      []string{http.MethodPost, http.MethodPatch},
		MaxBodyBytes: 1 << 20,
		MaxKeyLength: 255,
	}
}

// Middleware makes HTTP handlers idempotent under the Idempotency-Key
// header: the first request with a key runs the handler, and every retry
// with the same key (and the same scope) gets the first response back,
// status, header fields and body byte for byte, error responses included,
// marked with "Idempotent-Replayed: true". A retry while the first request
// is in flight gets 409 Conflict; a key reused with a different request
// gets 422 Unprocessable Content; a missing key, when required, gets 400.
type Middleware struct {
	cfg    MiddlewareConfig
	logger *slog.Logger
}

// NewMiddleware returns a Middleware, or an error naming the first invalid
// setting.
func NewMiddleware(cfg MiddlewareConfig) (*Middleware, error) {
	switch {
	case cfg.Keeper == nil:
		return nil, errors.New("idempotency: MiddlewareConfig.Keeper must be set")
	case len(cfg.Methods) == 0:
		return nil, errors.New("idempotency: MiddlewareConfig.Methods must list at least one method")
	case cfg.MaxBodyBytes <= 0:
		return nil, fmt.Errorf("idempotency: MiddlewareConfig.MaxBodyBytes must be > 0, got %d", cfg.MaxBodyBytes)
	case cfg.MaxKeyLength <= 0:
		return nil, fmt.Errorf("idempotency: MiddlewareConfig.MaxKeyLength must be > 0, got %d", cfg.MaxKeyLength)
	}
	cfg.Methods = slices.Clone(cfg.Methods)
	m := &Middleware{cfg: cfg, logger: cfg.Logger}
	if m.logger == nil {
		m.logger = slog.Default()
	}
	return m, nil
}

// Wrap returns next behind the middleware.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { m.serve(w, r, next) })
}

func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	if !slices.Contains(m.cfg.Methods, r.Method) {
		next.ServeHTTP(w, r)
		return
	}
	raw, present := r.Header[KeyHeader]
	if !present {
		if m.cfg.Required {
			problem(w, http.StatusBadRequest, "Idempotency-Key is missing", "This operation requires an Idempotency-Key header.")
			return
		}
		next.ServeHTTP(w, r)
		return
	}
	key, err := parseKey(raw, m.cfg.MaxKeyLength)
	if err != nil {
		problem(w, http.StatusBadRequest, "Idempotency-Key is invalid", err.Error())
		return
	}
	body, err := readBody(r, m.cfg.MaxBodyBytes)
	if err != nil {
		problem(w, http.StatusBadRequest, "Request body could not be read", err.Error())
		return
	}
	if int64(len(body)) > m.cfg.MaxBodyBytes {
		problem(w, http.StatusRequestEntityTooLarge, "Request body is too large",
			"Requests with an Idempotency-Key may have at most "+strconv.FormatInt(m.cfg.MaxBodyBytes, 10)+" bytes of body.")
		return
	}
	req := Request{Key: key}
	if m.cfg.Scope != nil {
		req.Scope = m.cfg.Scope(r)
	}
	if m.cfg.Fingerprint != nil {
		req.Fingerprint = m.cfg.Fingerprint(r, body)
	} else {
		req.Fingerprint = fingerprint(r, body)
	}

	att, stored, err := m.cfg.Keeper.Start(r.Context(), req)
	switch {
	case errors.Is(err, ErrMismatch):
		problem(w, http.StatusUnprocessableEntity, "Idempotency-Key is already used",
			"This Idempotency-Key was used with a different request.")
		return
	case errors.Is(err, ErrInProgress):
		w.Header().Set("Retry-After", "1")
		problem(w, http.StatusConflict, "A request with this Idempotency-Key is in progress",
			"Retry after the first request with this key has finished.")
		return
	case err != nil && r.Context().Err() != nil:
		return // the client is gone
	case err != nil:
		m.logger.ErrorContext(r.Context(), "idempotency: claiming a key failed", "key", key, "err", err)
		w.Header().Set("Retry-After", "1")
		problem(w, http.StatusServiceUnavailable, "Idempotency records are unavailable", "Retry the request later.")
		return
	case att == nil:
		m.replay(w, r, key, stored)
		return
	}

	r2 := r.WithContext(WithAttempt(r.Context(), att))
	r2.Body = &bodyReader{Reader: bytes.NewReader(body)}
	rec := &recorder{w: w}
	done := context.WithoutCancel(r.Context())
	completed := false
	defer func() {
		if !completed { // the handler panicked: let a retry run it again
			_ = att.Release(done)
		}
	}()
	next.ServeHTTP(rec, r2)
	completed = true
	if rec.out == nil {
		rec.WriteHeader(http.StatusOK)
	}
	if m.cfg.Retryable != nil && m.cfg.Retryable(rec.status) {
		err = att.Release(done)
	} else {
		err = att.Complete(done, rec.out)
	}
	if err != nil {
		m.logger.ErrorContext(r.Context(), "idempotency: recording a response failed", "key", key, "err", err)
	}
}

// readBody reads the request body, up to limit+1 bytes so that the caller
// can tell an oversized one.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if n := r.ContentLength; n >= 0 && n <= limit {
		body := make([]byte, n, n+1)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, err
		}
		var extra [1]byte
		if k, _ := r.Body.Read(extra[:]); k > 0 { // more than announced
			rest, err := io.ReadAll(io.LimitReader(r.Body, limit))
			return append(append(body, extra[0]), rest...), err
		}
		return body, nil
	}
	return io.ReadAll(io.LimitReader(r.Body, limit+1))
}

// bodyReader is the request body the handler reads: the bytes already read
// for the fingerprint.
type bodyReader struct{ *bytes.Reader }

func (*bodyReader) Close() error { return nil }

func (m *Middleware) replay(w http.ResponseWriter, r *http.Request, key string, stored []byte) {
	resp, err := decodeResponse(stored)
	if err != nil {
		m.logger.ErrorContext(r.Context(), "idempotency: a stored response is unreadable", "key", key, "err", err)
		problem(w, http.StatusInternalServerError, "Stored response is unreadable", "The response stored for this Idempotency-Key cannot be replayed.")
		return
	}
	h := w.Header()
	for name, values := range resp.header {
		h[name] = values
	}
	h.Set(ReplayedHeader, "true")
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

// parseKey returns the key of an Idempotency-Key field: a structured-field
// string ("..." with \" and \\ escapes) as the draft specifies, or, as many
// clients send it, the bare value. Either must be visible ASCII.
func parseKey(values []string, maxLen int) (string, error) {
	if len(values) != 1 {
		return "", errors.New("send exactly one Idempotency-Key header field")
	}
	v := strings.TrimSpace(values[0])
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		var b strings.Builder
		for i := 1; i < len(v)-1; i++ {
			c := v[i]
			if c == '\\' {
				i++
				if i == len(v)-1 || (v[i] != '"' && v[i] != '\\') {
					return "", errors.New(`a quoted Idempotency-Key may only escape " and \`)
				}
				c = v[i]
			} else if c == '"' {
				return "", errors.New(`a quoted Idempotency-Key must escape " inside it`)
			}
			b.WriteByte(c)
		}
		v = b.String()
	}
	if v == "" {
		return "", errors.New("the Idempotency-Key is empty")
	}
	if len(v) > maxLen {
		return "", fmt.Errorf("the Idempotency-Key is longer than %d bytes", maxLen)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return "", errors.New("the Idempotency-Key may only hold visible ASCII characters")
		}
	}
	return v, nil
}

// fingerprint is the default request fingerprint: SHA-256 over the method,
// the request URI and the body, each length-prefixed.
func fingerprint(r *http.Request, body []byte) []byte {
	h := sha256.New()
	for _, part := range [...]string{r.Method, r.URL.RequestURI()} {
		var n [8]byte
		h.Write(strconv.AppendInt(n[:0], int64(len(part)), 10))
		h.Write([]byte{':'})
		io.WriteString(h, part)
	}
	h.Write(body)
	return h.Sum(nil)
}

// problem writes an RFC 9457 problem details response.
func problem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"title":%s,"status":%d,"detail":%s}`, strconv.Quote(title), status, strconv.Quote(detail))
}

// recorder passes a handler's response through to the client and builds
// its stored form as it goes: status and header fields when the header is
// written, then the body.
type recorder struct {
	w      http.ResponseWriter
	status int
	out    []byte // nil until the header is written
}

func (rec *recorder) Header() http.Header { return rec.w.Header() }

func (rec *recorder) WriteHeader(status int) {
	if rec.out != nil {
		return
	}
	if status < 200 && status != http.StatusSwitchingProtocols {
		rec.w.WriteHeader(status) // informational: not the response
		return
	}
	rec.status = status
	rec.out = encodeResponse(make([]byte, 0, 512), status, rec.w.Header(), nil)
	rec.w.WriteHeader(status)
}

func (rec *recorder) Write(p []byte) (int, error) {
	if rec.out == nil {
		rec.WriteHeader(http.StatusOK)
	}
	rec.out = append(rec.out, p...)
	return rec.w.Write(p)
}

// Flush sends what was written so far to the client.
func (rec *recorder) Flush() {
	if rec.out == nil {
		rec.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(rec.w).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.w }
