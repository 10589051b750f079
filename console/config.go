package console

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/policyset"
)

// Config says what the console shows and who may act on it. The zero
// Config is the default: nothing to show, actions offered but refused to
// everyone (no token, no authenticator), audit to slog.Default, a state
// event at most once a second.
type Config struct {
	// Policies is the policy set whose chains are shown and acted on; nil
	// shows none.
	Policies *policyset.Set
	// Outboxes, Sagas, Projections and Components are shown by name.
	Outboxes    map[string]Outbox
	Sagas       map[string]Sagas
	Projections map[string]Projections
	Components  map[string]Component

	// ReadOnly removes every action: the handler answers only GET and
	// HEAD (anything else is 404).
	ReadOnly bool
	// Tokens are the operators' bearer tokens, by operator name, checked
	// by the default authenticator; each must be at least 16 bytes. Unused
	// when Authenticator is set.
	Tokens map[string]string
	// Authenticator, when set, decides who the operator of an action is
	// instead of Tokens.
	Authenticator Authenticator
	// TrustedOrigins are origins ("https://ops.example.com") other than
	// the handler's own host from which a browser may send actions.
	TrustedOrigins []string
	// AuditLog receives a record of every action and refusal; nil means
	// slog.Default().
	AuditLog *slog.Logger

	// Interval is how often an event stream reads the state and sends it
	// when it changed, in [10ms, 1h]; 0 means a second.
	Interval time.Duration
	// DeadLetters is how many dead letters of each outbox are listed, in
	// [1, 1000]; 0 means 50. Sagas needing attention are listed as many.
	DeadLetters int
	// Clock is the time source of rates and lags; nil means clock.System.
	Clock clock.Clock
}

// The defaults of zero fields, and the bounds of the settings.
const (
	defaultInterval    = time.Second
	minInterval        = 10 * time.Millisecond
	maxInterval        = time.Hour
	defaultDeadLetters = 50
	maxDeadLetters     = 1000
	minTokenLength     = 16
)

// DefaultConfig returns the settings a zero Config stands for.
func DefaultConfig() Config {
	return Config{AuditLog: slog.Default(), Interval: defaultInterval, DeadLetters: defaultDeadLetters, Clock: clock.System}
}

func (c Config) withDefaults() (Config, error) {
	switch {
	case c.Interval == 0:
		c.Interval = defaultInterval
	case c.Interval < minInterval || c.Interval > maxInterval:
		return c, fmt.Errorf("console: Config.Interval must be in [10ms, 1h], got %v", c.Interval)
	}
	switch {
	case c.DeadLetters == 0:
		c.DeadLetters = defaultDeadLetters
	case c.DeadLetters < 1 || c.DeadLetters > maxDeadLetters:
		return c, fmt.Errorf("console: Config.DeadLetters must be in [1, 1000], got %d", c.DeadLetters)
	}
	for op, tok := range c.Tokens {
		if op == "" {
			return c, fmt.Errorf("console: Config.Tokens has an empty operator name")
		}
		if len(tok) < minTokenLength {
			return c, fmt.Errorf("console: Config.Tokens[%q] must be at least %d bytes, got %d", op, minTokenLength, len(tok))
		}
	}
	if err := checkNames("Outboxes", c.Outboxes); err != nil {
		return c, err
	}
	if err := checkNames("Sagas", c.Sagas); err != nil {
		return c, err
	}
	if err := checkNames("Projections", c.Projections); err != nil {
		return c, err
	}
	if err := checkNames("Components", c.Components); err != nil {
		return c, err
	}
	if c.AuditLog == nil {
		c.AuditLog = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = clock.System
	}
	return c, nil
}

// checkNames refuses an empty name, a name with a slash (it is a path
// segment) and a nil value.
func checkNames[V any](field string, m map[string]V) error {
	for name, v := range m {
		if name == "" || containsSlash(name) {
			return fmt.Errorf("console: Config.%s: a name must be a non-empty path segment, got %q", field, name)
		}
		if any(v) == nil {
			return fmt.Errorf("console: Config.%s[%q] is nil", field, name)
		}
	}
	return nil
}

func containsSlash(s string) bool {
	for i := range len(s) {
		if s[i] == '/' {
			return true
		}
	}
	return false
}
