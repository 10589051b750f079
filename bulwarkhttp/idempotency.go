package bulwarkhttp

import (
	"bytes"
	"cmp"
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

	"github.com/bulwark-go/bulwark/idempotency"
)

// The defaults of IdempotencyConfig's zero fields.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultMaxKeyLength = 255
)

// IdempotencyConfig configures an Idempotency middleware. Every zero field
// means the default its comment names, so IdempotencyConfig{} is the
// default configuration.
type IdempotencyConfig struct {
	// Methods lists the request methods that take an idempotency key;
	// requests with other methods pass through untouched. Empty means
	// POST and PATCH.
	Methods []string

	// Required makes a missing Idempotency-Key a 400 Bad Request. Off (the
	// default): requests without a key pass through, and their handler
	// finds a nil Attempt in its context (idempotency.AttemptFrom), whose
	// methods are safe to call.
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
	// larger bodies get 413. 0 means DefaultMaxBodyBytes (1 MiB); must not
	// be negative.
	MaxBodyBytes int64

	// MaxKeyLength bounds the key's length in bytes; longer keys get 400.
	// 0 means DefaultMaxKeyLength (255); must not be negative.
	MaxKeyLength int

	// Release reports the response statuses that are not stored: for
	// those the key is released, so a retry runs the handler again. Nil
	// means ReleaseTransient (408, 429 and every 5xx), so that a momentary
	// failure (an open breaker's 503, a timeout) is never replayed for the
	// key's whole TTL. To store every response, as Stripe does, use
	// func(int) bool { return false }.
	Release func(status int) bool

	// Logger receives the failures of the record store that cannot reach
	// the client (a response that could not be stored, a stored response
	// that cannot be read). Nil means slog.Default().
	Logger *slog.Logger
}

// DefaultIdempotencyConfig returns the defaults that IdempotencyConfig{}
// stands for, spelled out: POST and PATCH take keys, keys are optional,
// one scope, the default fingerprint, 1 MiB bodies, 255-byte keys,
// transient failures released, logs to slog.Default().
func DefaultIdempotencyConfig() IdempotencyConfig {
	return IdempotencyConfig{
		Methods:      []string{http.MethodPost, http.MethodPatch},
		MaxBodyBytes: DefaultMaxBodyBytes,
		MaxKeyLength: DefaultMaxKeyLength,
		Release:      ReleaseTransient,
	}
}

// ReleaseTransient is the default IdempotencyConfig.Release: it releases
// the key of a response that says "try again" rather than "this is the
// outcome": 408 Request Timeout, 429 Too Many Requests and every 5xx (an
// overloaded or failing dependency, a rejection by a breaker or a
// bulkhead, a timeout). Every other response, 4xx included, is stored.
//
// A handler that had a side effect and then answers 5xx is run again by
// the retry: guard such effects with Attempt.Checkpoint, or pass a
// Release that stores that status.
func ReleaseTransient(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// Idempotency is server middleware that makes handlers idempotent under the
// Idempotency-Key header: the first request with a key runs the handler,
// and every retry with the same key (and the same scope) gets the first
// response back, status, header fields and body byte for byte, marked with
// "Idempotent-Replayed: true". A retry while the first request is in
// flight gets 409 Conflict (with Retry-After: the time until the first
// request's lease ends), unless the Keeper's Config.Wait lets it wait for
// the response; a key reused with a different request gets 422
// Unprocessable Content; a missing key, when required, or a malformed one
// gets 400; a record store out of reach, 503. Every such answer is
// application/problem+json.
//
// Responses IdempotencyConfig.Release picks (by default transient failures:
// 408, 429, 5xx) are passed to the client but not stored, and a handler
// that panics stores nothing: the key is released and the next retry runs
// the handler again.
//
// The handler's context carries the request's idempotency.Attempt
// (idempotency.AttemptFrom), for checkpoints and downstream keys.
type Idempotency struct {
	keeper *idempotency.Keeper
	cfg    IdempotencyConfig // defaults filled in
}

// NewIdempotency returns the middleware over keeper, or an error naming
// the first invalid setting of cfg. The zero IdempotencyConfig is the
// default configuration.
func NewIdempotency(keeper *idempotency.Keeper, cfg IdempotencyConfig) (*Idempotency, error) {
	switch {
	case keeper == nil:
		return nil, errors.New("bulwarkhttp: NewIdempotency needs a keeper, got nil")
	case cfg.MaxBodyBytes < 0:
		return nil, fmt.Errorf("bulwarkhttp: IdempotencyConfig.MaxBodyBytes must be 0 (meaning %d) or > 0, got %d", DefaultMaxBodyBytes, cfg.MaxBodyBytes)
	case cfg.MaxKeyLength < 0:
		return nil, fmt.Errorf("bulwarkhttp: IdempotencyConfig.MaxKeyLength must be 0 (meaning %d) or > 0, got %d", DefaultMaxKeyLength, cfg.MaxKeyLength)
	}
	d := DefaultIdempotencyConfig()
	if len(cfg.Methods) == 0 {
		cfg.Methods = d.Methods
	} else {
		cfg.Methods = slices.Clone(cfg.Methods)
	}
	cfg.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, d.MaxBodyBytes)
	cfg.MaxKeyLength = cmp.Or(cfg.MaxKeyLength, d.MaxKeyLength)
	if cfg.Release == nil {
		cfg.Release = d.Release
	}
	return &Idempotency{keeper: keeper, cfg: cfg}, nil
}

func (m *Idempotency) logger() *slog.Logger {
	if m.cfg.Logger != nil {
		return m.cfg.Logger
	}
	return slog.Default()
}

// Handler returns next behind the middleware.
func (m *Idempotency) Handler(next http.Handler) http.Handler {
	if m == nil || m.keeper == nil {
		panic("bulwarkhttp: Idempotency used without NewIdempotency")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { m.serve(w, r, next) })
}

func (m *Idempotency) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	if !slices.Contains(m.cfg.Methods, r.Method) {
		next.ServeHTTP(w, r)
		return
	}
	raw, present := r.Header[HeaderIdempotencyKey]
	if !present {
		if m.cfg.Required {
			WriteProblem(w, Problem{Status: http.StatusBadRequest, Detail: "This operation requires an Idempotency-Key header."})
			return
		}
		next.ServeHTTP(w, r)
		return
	}
	key, bad := parseKey(raw, m.cfg.MaxKeyLength)
	if bad != "" {
		WriteProblem(w, Problem{Status: http.StatusBadRequest, Detail: bad})
		return
	}
	body, err := readBody(r, m.cfg.MaxBodyBytes)
	if err != nil {
		WriteProblem(w, Problem{Status: http.StatusBadRequest, Detail: "The request body could not be read."})
		return
	}
	if int64(len(body)) > m.cfg.MaxBodyBytes {
		WriteProblem(w, Problem{Status: http.StatusRequestEntityTooLarge,
			Detail: "Requests with an Idempotency-Key may have at most " + strconv.FormatInt(m.cfg.MaxBodyBytes, 10) + " bytes of body."})
		return
	}
	req := idempotency.Request{Key: key}
	if m.cfg.Scope != nil {
		req.Scope = m.cfg.Scope(r)
	}
	if m.cfg.Fingerprint != nil {
		req.Fingerprint = m.cfg.Fingerprint(r, body)
	} else {
		req.Fingerprint = fingerprint(r, body)
	}

	att, stored, err := m.keeper.Start(r.Context(), req)
	switch {
	case errors.Is(err, idempotency.ErrMismatch), errors.Is(err, idempotency.ErrInProgress):
		WriteError(w, err)
		return
	case err != nil && r.Context().Err() != nil:
		return // the client is gone
	case err != nil:
		m.logger().ErrorContext(r.Context(), "bulwarkhttp: claiming an idempotency key failed", "key", key, "error", err)
		WriteProblem(w, Problem{Status: http.StatusServiceUnavailable, Detail: "Idempotency records are unavailable; retry later.", RetryAfter: minRetryAfter})
		return
	case att == nil:
		m.replay(w, r, key, stored)
		return
	}

	r2 := r.WithContext(idempotency.WithAttempt(r.Context(), att))
	r2.Body = &bodyReader{Reader: bytes.NewReader(body)}
	rec := &recorder{w: w, release: m.cfg.Release}
	done := context.WithoutCancel(r.Context())
	finished := false
	defer func() {
		if !finished { // the handler panicked: let a retry run it again
			_ = att.Release(done)
		}
	}()
	next.ServeHTTP(rec, r2)
	finished = true
	if !rec.written {
		rec.WriteHeader(http.StatusOK)
	}
	if rec.out == nil {
		err = att.Release(done)
	} else {
		err = att.Complete(done, rec.out)
	}
	if err != nil {
		m.logger().ErrorContext(r.Context(), "bulwarkhttp: recording a response failed", "key", key, "error", err)
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

func (m *Idempotency) replay(w http.ResponseWriter, r *http.Request, key string, stored []byte) {
	resp, err := decodeResponse(stored)
	if err != nil {
		m.logger().ErrorContext(r.Context(), "bulwarkhttp: a stored response is unreadable", "key", key, "error", err)
		WriteProblem(w, Problem{Status: http.StatusInternalServerError, Detail: "The response stored for this Idempotency-Key cannot be replayed."})
		return
	}
	h := w.Header()
	for name, values := range resp.header {
		h[name] = values
	}
	h.Set(HeaderIdempotentReplayed, "true")
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

// parseKey returns the key of an Idempotency-Key field: a structured-field
// string ("..." with \" and \\ escapes) as the draft specifies, or, as many
// clients send it, the bare value. Either must be visible ASCII. When the
// field is malformed it returns, instead, what is wrong with it.
func parseKey(values []string, maxLen int) (key, bad string) {
	if len(values) != 1 {
		return "", "Send exactly one Idempotency-Key header field."
	}
	v := strings.TrimSpace(values[0])
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		var b strings.Builder
		for i := 1; i < len(v)-1; i++ {
			c := v[i]
			if c == '\\' {
				i++
				if i == len(v)-1 || (v[i] != '"' && v[i] != '\\') {
					return "", `A quoted Idempotency-Key may only escape " and \.`
				}
				c = v[i]
			} else if c == '"' {
				return "", `A quoted Idempotency-Key must escape " inside it.`
			}
			b.WriteByte(c)
		}
		v = b.String()
	}
	if v == "" {
		return "", "The Idempotency-Key is empty."
	}
	if len(v) > maxLen {
		return "", "The Idempotency-Key is longer than " + strconv.Itoa(maxLen) + " bytes."
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return "", "The Idempotency-Key may only hold visible ASCII characters."
		}
	}
	return v, ""
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

// recorder passes a handler's response through to the client and builds
// its stored form as it goes: status and header fields when the header is
// written, then the body. A response to be released is not recorded.
type recorder struct {
	w       http.ResponseWriter
	release func(status int) bool
	written bool   // the header was written
	out     []byte // the stored form; nil when the response is released
}

func (rec *recorder) Header() http.Header { return rec.w.Header() }

func (rec *recorder) WriteHeader(status int) {
	if rec.written {
		return
	}
	if status < 200 && status != http.StatusSwitchingProtocols {
		rec.w.WriteHeader(status) // informational: not the response
		return
	}
	rec.written = true
	if !rec.release(status) {
		rec.out = encodeResponse(make([]byte, 0, 512), status, rec.w.Header(), nil)
	}
	rec.w.WriteHeader(status)
}

func (rec *recorder) Write(p []byte) (int, error) {
	if !rec.written {
		rec.WriteHeader(http.StatusOK)
	}
	if rec.out != nil {
		rec.out = append(rec.out, p...)
	}
	return rec.w.Write(p)
}

// Flush sends what was written so far to the client.
func (rec *recorder) Flush() {
	if !rec.written {
		rec.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(rec.w).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.w }
