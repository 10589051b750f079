package jwtauth

import (
	"log/slog"

	"github.com/bulwark-go/bulwark"
)

// The events of this package. A Verifier reports KeysFetched and
// KeysFetchFailed to its Config.Observer, a Route reports Rejected to its
// RouteConfig.Observer; each synchronously, with the context of the work
// that caused it.
var (
	_ bulwark.Event = KeysFetched{}
	_ bulwark.Event = KeysFetchFailed{}
	_ bulwark.Event = Rejected{}
)

// KeysFetched is reported when an issuer's key set was fetched and
// replaced the held one.
type KeysFetched struct {
	Name   string // the Verifier's Config.Name
	Issuer string
	Cause  string // CauseFirstUse, CauseUnknownKID or CausePeriodic
	Keys   int    // the keys in the new set
}

func (KeysFetched) Kind() string        { return "jwtauth.keys_fetched" }
func (e KeysFetched) Component() string { return e.Name }
func (e KeysFetched) LogValue() slog.Value {
	return slog.GroupValue(slog.String("issuer", e.Issuer), slog.String("cause", e.Cause), slog.Int("keys", e.Keys))
}

// KeysFetchFailed is reported when fetching an issuer's key set failed
// (unreachable, slower than FetchTimeout, not a key set): the held set, if
// any, stays in use.
type KeysFetchFailed struct {
	Name   string // the Verifier's Config.Name
	Issuer string
	Cause  string
	Err    error
}

func (KeysFetchFailed) Kind() string        { return "jwtauth.keys_fetch_failed" }
func (e KeysFetchFailed) Component() string { return e.Name }
func (e KeysFetchFailed) LogValue() slog.Value {
	return slog.GroupValue(slog.String("issuer", e.Issuer), slog.String("cause", e.Cause), slog.Any("error", e.Err))
}

// Rejected is reported by a Route for each request it refused: Status 401
// (no token, or an invalid one, or one lacking a required claim) or 403
// (a scope missing), with the reason sent to the client.
type Rejected struct {
	Name    string // the Route's RouteConfig.Name
	Status  int
	Reason  string
	Subject string // "" unless the token was valid
	Err     error  // the cause, nil for a missing token or scope
}

func (Rejected) Kind() string        { return "jwtauth.rejected" }
func (e Rejected) Component() string { return e.Name }
func (e Rejected) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("status", e.Status), slog.String("reason", e.Reason), slog.String("subject", e.Subject), slog.Any("error", e.Err))
}
