package circuitbreaker

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/clock"
)

func TestDefaultConfigIsValid(t *testing.T) {
	if _, err := New(DefaultConfig()); err != nil {
		t.Fatalf("New(DefaultConfig()): %v", err)
	}
	if _, err := NewKeyed(DefaultKeyedConfig[string]()); err != nil {
		t.Fatalf("NewKeyed(DefaultKeyedConfig()): %v", err)
	}
}

func TestNewRejectsInvalidSettings(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // the error must name the setting and the range
	}{
		{"zero window", func(c *Config) { c.Window = Window{} }, "Config.Window must be set"},
		{"empty count window", func(c *Config) { c.Window = LastCalls(0) }, "Config.Window must hold [1, 1048576] calls, got LastCalls(0)"},
		{"huge count window", func(c *Config) { c.Window = LastCalls(1 << 21) }, "Config.Window must hold [1, 1048576] calls"},
		{"time window without buckets", func(c *Config) { c.Window = LastDuration(time.Minute, 0) }, "Config.Window must have buckets in [1, 1000], got LastDuration(1m0s, 0)"},
		{"zero time window", func(c *Config) { c.Window = LastDuration(0, 10) }, "Config.Window must have buckets of at least 1ms"},
		{"sub-millisecond buckets", func(c *Config) { c.Window = LastDuration(time.Second, 1000+1) }, "Config.Window must have buckets in [1, 1000]"},
		{"zero threshold", func(c *Config) { c.FailureRateThreshold = 0 }, "Config.FailureRateThreshold must be in (0, 100], got 0"},
		{"threshold above 100", func(c *Config) { c.FailureRateThreshold = 100.5 }, "Config.FailureRateThreshold must be in (0, 100], got 100.5"},
		{"NaN threshold", func(c *Config) { c.FailureRateThreshold = math.NaN() }, "Config.FailureRateThreshold must be in (0, 100], got NaN"},
		{"zero minimum calls", func(c *Config) { c.MinimumCalls = 0 }, "Config.MinimumCalls must be in [1, 100], got 0"},
		{"minimum calls above window", func(c *Config) { c.MinimumCalls = 101 }, "Config.MinimumCalls must be in [1, 100], got 101"},
		{"negative consecutive failures", func(c *Config) { c.ConsecutiveFailures = -1 }, "Config.ConsecutiveFailures must be 0 (off) or more, got -1"},
		{"negative slow duration", func(c *Config) { c.SlowCallDuration = -1 }, "Config.SlowCallDuration must be 0 (off) or more"},
		{"slow duration without rate", func(c *Config) { c.SlowCallDuration = time.Second }, "Config.SlowCallRateThreshold must be in (0, 100] when SlowCallDuration is set, got 0"},
		{"slow rate without duration", func(c *Config) { c.SlowCallRateThreshold = 50 }, "Config.SlowCallRateThreshold must be 0 when SlowCallDuration is 0"},
		{"zero open wait", func(c *Config) { c.OpenWait = 0 }, "Config.OpenWait must be greater than 0, got 0s"},
		{"multiplier of 1", func(c *Config) { c.OpenWaitMultiplier = 1 }, "Config.OpenWaitMultiplier must be 0 (fixed wait) or in (1, 100], got 1"},
		{"max wait below wait", func(c *Config) { c.MaxOpenWait = time.Second }, "Config.MaxOpenWait must be at least OpenWait (10s) when OpenWaitMultiplier is set, got 1s"},
		{"max wait without multiplier", func(c *Config) { c.OpenWaitMultiplier = 0 }, "Config.MaxOpenWait must be 0 when OpenWaitMultiplier is 0"},
		{"jitter of 1", func(c *Config) { c.OpenWaitJitter = 1 }, "Config.OpenWaitJitter must be 0 (off) or in (0, 1), got 1"},
		{"negative jitter", func(c *Config) { c.OpenWaitJitter = -0.1 }, "Config.OpenWaitJitter must be 0 (off) or in (0, 1)"},
		{"no probes", func(c *Config) { c.HalfOpenCalls = 0 }, "Config.HalfOpenCalls must be in [1, 10000], got 0"},
		{"successes above probes", func(c *Config) { c.HalfOpenSuccesses = 6 }, "Config.HalfOpenSuccesses must be in [1, HalfOpenCalls=5], got 6"},
		{"zero successes", func(c *Config) { c.HalfOpenSuccesses = 0 }, "Config.HalfOpenSuccesses must be in [1, HalfOpenCalls=5], got 0"},
		{"negative half-open wait", func(c *Config) { c.MaxHalfOpenWait = -time.Second }, "Config.MaxHalfOpenWait must be 0 (off) or more, got -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mutate(&cfg)
			b, err := New(cfg)
			if err == nil || b != nil {
				t.Fatalf("New accepted it (breaker %v)", b)
			}
			if !strings.HasPrefix(err.Error(), "circuitbreaker: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestOptionalSettingsAreOffAtZero(t *testing.T) {
	cfg := Config{
		Window: LastCalls(1), FailureRateThreshold: 100, MinimumCalls: 1,
		OpenWait: time.Second, HalfOpenCalls: 1, HalfOpenSuccesses: 1,
		Clock: clock.System,
	}
	if _, err := New(cfg); err != nil {
		t.Fatalf("minimal config with every optional setting at zero: %v", err)
	}
}

func TestTimeWindowAllowsAnyMinimumCalls(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Window, cfg.MinimumCalls = LastDuration(time.Minute, 60), 5000
	if _, err := New(cfg); err != nil {
		t.Fatalf("time window with MinimumCalls 5000: %v", err)
	}
}

func TestWindowString(t *testing.T) {
	for w, want := range map[Window]string{
		LastCalls(50):                    "LastCalls(50)",
		LastDuration(30*time.Second, 10): "LastDuration(30s, 10)",
		{}:                               "Window{}",
	} {
		if got := w.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
}

func TestNewKeyedRejectsInvalidSettings(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*KeyedConfig[string])
		want   string
	}{
		{"invalid breaker", func(c *KeyedConfig[string]) { c.Breaker.OpenWait = 0 }, "KeyedConfig.Breaker: circuitbreaker: Config.OpenWait must be greater than 0"},
		{"breaker hook", func(c *KeyedConfig[string]) { c.Breaker.OnStateChange = func(StateChange) {} }, "KeyedConfig.Breaker.OnStateChange and OnReject must be nil"},
		{"zero keys", func(c *KeyedConfig[string]) { c.MaxKeys = 0 }, "KeyedConfig.MaxKeys must be at least 1, got 0"},
		{"open percent above 100", func(c *KeyedConfig[string]) { c.MaxOpenPercent = 101 }, "KeyedConfig.MaxOpenPercent must be 0 (no cap) or in (0, 100], got 101"},
		{"negative open percent", func(c *KeyedConfig[string]) { c.MaxOpenPercent = -5 }, "KeyedConfig.MaxOpenPercent must be 0 (no cap) or in (0, 100]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultKeyedConfig[string]()
			tt.mutate(&cfg)
			if _, err := NewKeyed(cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
