package etcddiscovery

import (
	"cmp"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/bulwark-go/bulwark/retry"
)

// DefaultPrefix is the key prefix of the registry when Config.Prefix and
// RegistrationConfig.Prefix are empty.
const DefaultPrefix = "/bulwark/services"

// Config configures a Resolver. The zero Config is the default
// configuration; DefaultConfig spells it out.
type Config struct {
	// Prefix is the registry's key prefix, without a trailing "/";
	// "" means DefaultPrefix. A Resolver sees the instances registered
	// under the same Prefix.
	Prefix string
	// Timeout bounds each read of a service's keys, in (0, 1h]; 0 means
	// 5s. A read that etcd does not answer in time is delivered as an
	// Update.Err and tried again.
	Timeout time.Duration
	// Backoff chooses the wait before reading the keys again after a read
	// failed; nil means retry.Exponential{Initial: 100 * time.Millisecond,
	// Multiplier: 2, Jitter: retry.EqualJitter}.
	Backoff retry.Backoff
	// MaxDelay caps every wait Backoff chooses, in (0, 1h]; 0 means 5s.
	MaxDelay time.Duration
	// Clock paces the waits; nil means clock.System.
	Clock clock.Clock
	// Logger receives a warning, under the key "error", for each key whose
	// value is not an endpoint (that key is left out of the set); nil
	// means slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns the defaults the zero Config stands for.
func DefaultConfig() Config {
	return Config{Prefix: DefaultPrefix, Timeout: 5 * time.Second, Backoff: defaultBackoff, MaxDelay: 5 * time.Second}
}

var defaultBackoff = retry.Exponential{Initial: 100 * time.Millisecond, Multiplier: 2, Jitter: retry.EqualJitter}

func (c Config) resolve() (Config, error) {
	d := DefaultConfig()
	c.Prefix = cmp.Or(c.Prefix, d.Prefix)
	c.Timeout = cmp.Or(c.Timeout, d.Timeout)
	c.Backoff = cmp.Or(c.Backoff, d.Backoff)
	c.MaxDelay = cmp.Or(c.MaxDelay, d.MaxDelay)
	c.Clock = clock.OrSystem(c.Clock)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	if err := checkPrefix("Config", c.Prefix); err != nil {
		return c, err
	}
	if c.Timeout < 0 || c.Timeout > time.Hour {
		return c, fmt.Errorf("etcddiscovery: Config.Timeout must be 0 (meaning 5s) or in (0, 1h], got %v", c.Timeout)
	}
	if err := checkWaits("Config", c.Backoff, c.MaxDelay); err != nil {
		return c, err
	}
	return c, nil
}

// RegistrationConfig configures a Registration. The zero RegistrationConfig
// is the default configuration; DefaultRegistrationConfig spells it out.
type RegistrationConfig struct {
	// Name names the registration in its events (Component); "" for none.
	Name string
	// Observer receives the registration's events (Registered, Lost); nil
	// observes nothing.
	Observer bulwark.Observer
	// Prefix is the registry's key prefix, without a trailing "/";
	// "" means DefaultPrefix.
	Prefix string
	// TTL is the lease's time to live: how long the endpoint stays
	// registered after its instance stops renewing the lease (it died, or
	// lost etcd). A whole number of seconds in [1s, 24h]; 0 means 10s.
	// etcd raises a TTL below its own minimum (2s with its default
	// election timeout) to that minimum.
	TTL time.Duration
	// Backoff chooses the wait before registering again after the lease
	// was lost or a registration failed; nil means
	// retry.Exponential{Initial: 100 * time.Millisecond, Multiplier: 2,
	// Jitter: retry.EqualJitter}.
	Backoff retry.Backoff
	// MaxDelay caps every wait Backoff chooses, in (0, 1h]; 0 means 5s.
	MaxDelay time.Duration
	// Clock paces the waits; nil means clock.System.
	Clock clock.Clock
	// Logger receives a warning, under the key "error", when the lease
	// cannot be revoked at Close; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultRegistrationConfig returns the defaults the zero
// RegistrationConfig stands for.
func DefaultRegistrationConfig() RegistrationConfig {
	return RegistrationConfig{Prefix: DefaultPrefix, TTL: 10 * time.Second, Backoff: defaultBackoff, MaxDelay: 5 * time.Second}
}

func (c RegistrationConfig) resolve() (RegistrationConfig, error) {
	d := DefaultRegistrationConfig()
	c.Prefix = cmp.Or(c.Prefix, d.Prefix)
	c.TTL = cmp.Or(c.TTL, d.TTL)
	c.Backoff = cmp.Or(c.Backoff, d.Backoff)
	c.MaxDelay = cmp.Or(c.MaxDelay, d.MaxDelay)
	c.Clock = clock.OrSystem(c.Clock)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	if err := checkPrefix("RegistrationConfig", c.Prefix); err != nil {
		return c, err
	}
	if c.TTL < time.Second || c.TTL > 24*time.Hour || c.TTL%time.Second != 0 {
		return c, fmt.Errorf("etcddiscovery: RegistrationConfig.TTL must be 0 (meaning 10s) or a whole number of seconds in [1s, 24h], got %v", c.TTL)
	}
	if err := checkWaits("RegistrationConfig", c.Backoff, c.MaxDelay); err != nil {
		return c, err
	}
	return c, nil
}

func checkPrefix(config, prefix string) error {
	if strings.HasSuffix(prefix, "/") {
		return fmt.Errorf("etcddiscovery: %s.Prefix must not end with \"/\", got %q", config, prefix)
	}
	return nil
}

func checkWaits(config string, b retry.Backoff, maxDelay time.Duration) error {
	if err := b.Validate(); err != nil {
		return fmt.Errorf("etcddiscovery: %s.Backoff: %w", config, err)
	}
	if maxDelay < 0 || maxDelay > time.Hour {
		return fmt.Errorf("etcddiscovery: %s.MaxDelay must be 0 (meaning 5s) or in (0, 1h], got %v", config, maxDelay)
	}
	return nil
}

// servicePrefix returns the key prefix of service's instances, with its
// trailing "/", or an error when service cannot be a key segment.
func servicePrefix(prefix, service string) (string, error) {
	switch {
	case strings.TrimSpace(service) == "":
		return "", fmt.Errorf("etcddiscovery: service name must not be empty")
	case strings.Contains(service, "/"):
		return "", fmt.Errorf("etcddiscovery: service name must not contain \"/\", got %q", service)
	}
	return prefix + "/" + service + "/", nil
}
