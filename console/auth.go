package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
)

// Authenticator decides who the operator of an action is. Authenticate
// returns the operator's name (written to the audit log), or an error when
// the request carries no valid credentials; the error's text is logged,
// never sent to the client.
type Authenticator interface {
	Authenticate(r *http.Request) (operator string, err error)
}

// AuthenticatorFunc is a function that is an Authenticator.
type AuthenticatorFunc func(r *http.Request) (string, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) (string, error) { return f(r) }

var (
	errNoCredentials  = errors.New("no bearer token")
	errBadCredentials = errors.New("unknown bearer token")
)

// tokens is the default Authenticator: each operator's bearer token, kept
// as its SHA-256 so every comparison is of equal length and constant time.
type tokens []operatorToken

type operatorToken struct {
	operator string
	sum      [sha256.Size]byte
}

func newTokens(m map[string]string) tokens {
	ts := make(tokens, 0, len(m))
	for _, op := range sorted(m) {
		ts = append(ts, operatorToken{op, sha256.Sum256([]byte(m[op]))})
	}
	return ts
}

// Authenticate compares the request's bearer token with every operator's,
// all in constant time, so the time taken tells nothing about which or how
// much of a token matched.
func (ts tokens) Authenticate(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", errNoCredentials
	}
	sum := sha256.Sum256([]byte(h[len(prefix):]))
	found := ""
	for _, t := range ts {
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
			found = t.operator
		}
	}
	if found == "" {
		return "", errBadCredentials
	}
	return found, nil
}

// The double-submit CSRF token: a cookie and a header that must agree.
const (
	csrfCookie = "bulwark_console_csrf"
	csrfHeader = "X-CSRF-Token"
)

var (
	errNoCSRF     = errors.New("no CSRF token")
	errForgedCSRF = errors.New("CSRF token does not match its cookie")
)

// newCSRFToken returns 32 random bytes, URL-safe base64.
func newCSRFToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// checkCSRF requires the header's token to equal the cookie's.
func checkCSRF(r *http.Request) error {
	ck, err := r.Cookie(csrfCookie)
	hdr := r.Header.Get(csrfHeader)
	if err != nil || ck.Value == "" || hdr == "" {
		return errNoCSRF
	}
	if subtle.ConstantTimeCompare([]byte(ck.Value), []byte(hdr)) != 1 {
		return errForgedCSRF
	}
	return nil
}

// session returns the request's CSRF token, setting a fresh one in the
// cookie when the request has none.
func session(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(csrfCookie); err == nil && len(ck.Value) >= 32 {
		return ck.Value
	}
	tok := newCSRFToken()
	http.SetCookie(w, &http.Cookie{
		Name: csrfCookie, Value: tok, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	return tok
}
