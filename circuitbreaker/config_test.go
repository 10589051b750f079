package circuitbreaker

import (
	"math"
	"reflect"
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

// TestZeroConfigIsTheDefault: every zero field takes the default that
// DefaultConfig spells out, so New(Config{}) makes the same breaker as
// New(DefaultConfig()).
func TestZeroConfigIsTheDefault(t *testing.T) {
	zero, err := New(Config{})
	if err != nil {
		t.Fatalf("New(Config{}): %v", err)
	}
	def, _ := New(DefaultConfig())
	if !reflect.DeepEqual(zero.cfg, def.cfg) {
		t.Fatalf("New(Config{}) runs with\n%+v\nNew(DefaultConfig()) with\n%+v", zero.cfg, def.cfg)
	}
	if got := (Config{}).withDefaults(); !reflect.DeepEqual(got, DefaultConfig()) {
		t.Fatalf("the zero Config's defaults\n%+v\ndiffer from DefaultConfig()\n%+v", got, DefaultConfig())
	}
	kz, err := NewKeyed(KeyedConfig[string]{})
	if err != nil {
		t.Fatalf("NewKeyed(KeyedConfig{}): %v", err)
	}
	kd, _ := NewKeyed(DefaultKeyedConfig[string]())
	if !reflect.DeepEqual(kz.cfg, kd.cfg) {
		t.Fatalf("NewKeyed(KeyedConfig{}) runs with %+v, NewKeyed(DefaultKeyedConfig()) with %+v", kz.cfg, kd.cfg)
	}
}

// TestZeroFieldsFollowTheOthers: the defaults that depend on another field
// stay valid beside it.
func TestZeroFieldsFollowTheOthers(t *testing.T) {
	c := Config{Window: LastCalls(8), HalfOpenCalls: 2, OpenWait: time.Hour}.withDefaults()
	if c.MinimumCalls != 8 || c.HalfOpenSuccesses != 2 || c.MaxOpenWait != time.Hour {
		t.Fatalf("MinimumCalls %d, HalfOpenSuccesses %d, MaxOpenWait %v; want 8 (the window), 2 (a majority of 2), 1h (OpenWait)",
			c.MinimumCalls, c.HalfOpenSuccesses, c.MaxOpenWait)
	}
	if _, err := New(Config{Window: LastCalls(8), HalfOpenCalls: 2, OpenWait: time.Hour}); err != nil {
		t.Fatal(err)
	}
}

func TestNewRejectsInvalidSettings(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // the error must name the setting and the range
	}{
		{"empty count window", func(c *Config) { c.Window = LastCalls(0) }, "Config.Window must hold [1, 1048576] calls, got LastCalls(0)"},
		{"negative count window", func(c *Config) { c.Window = LastCalls(-5) }, "Config.Window must hold [1, 1048576] calls, got LastCalls(-5)"},
		{"huge count window", func(c *Config) { c.Window = LastCalls(1 << 21) }, "Config.Window must hold [1, 1048576] calls"},
		{"time window without buckets", func(c *Config) { c.Window = LastDuration(time.Minute, 0) }, "Config.Window must have buckets in [1, 1000], got LastDuration(1m0s, 0)"},
		{"zero time window", func(c *Config) { c.Window = LastDuration(0, 10) }, "Config.Window must have buckets of at least 1ms"},
		{"negative time window", func(c *Config) { c.Window = LastDuration(-time.Minute, 10) }, "Config.Window must have buckets of at least 1ms"},
		{"sub-millisecond buckets", func(c *Config) { c.Window = LastDuration(time.Second, 1000+1) }, "Config.Window must have buckets in [1, 1000]"},
		{"negative threshold", func(c *Config) { c.FailureRateThreshold = -1 }, "Config.FailureRateThreshold must be in (0, 100] (0 means 50), got -1"},
		{"threshold above 100", func(c *Config) { c.FailureRateThreshold = 100.5 }, "Config.FailureRateThreshold must be in (0, 100] (0 means 50), got 100.5"},
		{"NaN threshold", func(c *Config) { c.FailureRateThreshold = math.NaN() }, "Config.FailureRateThreshold must be in (0, 100] (0 means 50), got NaN"},
		{"infinite threshold", func(c *Config) { c.FailureRateThreshold = math.Inf(1) }, "Config.FailureRateThreshold must be in (0, 100] (0 means 50), got +Inf"},
		{"negative minimum calls", func(c *Config) { c.MinimumCalls = -1 }, "Config.MinimumCalls must be in [1, 100], got -1"},
		{"minimum calls above window", func(c *Config) { c.MinimumCalls = 101 }, "Config.MinimumCalls must be in [1, 100], got 101"},
		{"negative consecutive failures", func(c *Config) { c.ConsecutiveFailures = -1 }, "Config.ConsecutiveFailures must be 0 (off) or in [1, 2147483647], got -1"},
		{"huge consecutive failures", func(c *Config) { c.ConsecutiveFailures = math.MaxInt }, "Config.ConsecutiveFailures must be 0 (off) or in [1, 2147483647]"},
		{"negative slow duration", func(c *Config) { c.SlowCallDuration = -1 }, "Config.SlowCallDuration must be 0 (off) or more"},
		{"negative slow rate", func(c *Config) { c.SlowCallRateThreshold = -50 }, "Config.SlowCallRateThreshold must be in (0, 100] (0 means 50), got -50"},
		{"NaN slow rate", func(c *Config) { c.SlowCallRateThreshold = math.NaN() }, "Config.SlowCallRateThreshold must be in (0, 100] (0 means 50), got NaN"},
		{"negative open wait", func(c *Config) { c.OpenWait = -time.Second }, "Config.OpenWait must be in (0, 24h0m0s] (0 means 10s), got -1s"},
		{"open wait past a day", func(c *Config) { c.OpenWait = 25 * time.Hour }, "Config.OpenWait must be in (0, 24h0m0s] (0 means 10s), got 25h0m0s"},
		{"multiplier below 1", func(c *Config) { c.OpenWaitMultiplier = 0.5 }, "Config.OpenWaitMultiplier must be circuitbreaker.FixedOpenWait (1) or in (1, 100] (0 means 2), got 0.5"},
		{"multiplier above 100", func(c *Config) { c.OpenWaitMultiplier = 101 }, "Config.OpenWaitMultiplier must be circuitbreaker.FixedOpenWait (1) or in (1, 100]"},
		{"NaN multiplier", func(c *Config) { c.OpenWaitMultiplier = math.NaN() }, "Config.OpenWaitMultiplier must be circuitbreaker.FixedOpenWait (1) or in (1, 100] (0 means 2), got NaN"},
		{"infinite multiplier", func(c *Config) { c.OpenWaitMultiplier = math.Inf(1) }, "got +Inf"},
		{"max wait below wait", func(c *Config) { c.MaxOpenWait = time.Second }, "Config.MaxOpenWait must be in [OpenWait (10s), 24h0m0s], got 1s"},
		{"negative max wait", func(c *Config) { c.MaxOpenWait = -time.Second }, "Config.MaxOpenWait must be in [OpenWait (10s), 24h0m0s], got -1s"},
		{"max wait past a day", func(c *Config) { c.MaxOpenWait = math.MaxInt64 }, "Config.MaxOpenWait must be in [OpenWait (10s), 24h0m0s]"},
		{"jitter of 1", func(c *Config) { c.OpenWaitJitter = 1 }, "Config.OpenWaitJitter must be circuitbreaker.NoJitter or in (0, 1) (0 means 0.1), got 1"},
		{"negative jitter", func(c *Config) { c.OpenWaitJitter = -0.1 }, "Config.OpenWaitJitter must be circuitbreaker.NoJitter or in (0, 1) (0 means 0.1), got -0.1"},
		{"NaN jitter", func(c *Config) { c.OpenWaitJitter = math.NaN() }, "Config.OpenWaitJitter must be circuitbreaker.NoJitter or in (0, 1) (0 means 0.1), got NaN"},
		{"negative probes", func(c *Config) { c.HalfOpenCalls = -1 }, "Config.HalfOpenCalls must be in [1, 10000], got -1"},
		{"too many probes", func(c *Config) { c.HalfOpenCalls = 10001 }, "Config.HalfOpenCalls must be in [1, 10000], got 10001"},
		{"successes above probes", func(c *Config) { c.HalfOpenSuccesses = 6 }, "Config.HalfOpenSuccesses must be in [1, HalfOpenCalls=5], got 6"},
		{"negative successes", func(c *Config) { c.HalfOpenSuccesses = -1 }, "Config.HalfOpenSuccesses must be in [1, HalfOpenCalls=5], got -1"},
		{"negative half-open wait", func(c *Config) { c.MaxHalfOpenWait = -time.Second }, "Config.MaxHalfOpenWait must be circuitbreaker.NoMaxHalfOpenWait or in (0, 24h0m0s], got -1s"},
		{"half-open wait past a day", func(c *Config) { c.MaxHalfOpenWait = math.MaxInt64 }, "Config.MaxHalfOpenWait must be circuitbreaker.NoMaxHalfOpenWait or in (0, 24h0m0s]"},
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

func TestOffConstantsTurnSettingsOff(t *testing.T) {
	cfg := Config{
		Window: LastCalls(1), FailureRateThreshold: 100, MinimumCalls: 1,
		OpenWait: time.Second, OpenWaitMultiplier: FixedOpenWait, OpenWaitJitter: NoJitter,
		HalfOpenCalls: 1, HalfOpenSuccesses: 1, MaxHalfOpenWait: NoMaxHalfOpenWait,
		Clock: clock.System,
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatalf("every optional setting off: %v", err)
	}
	if b.cfg.OpenWaitMultiplier != 1 || b.cfg.OpenWaitJitter != NoJitter || b.cfg.MaxHalfOpenWait != NoMaxHalfOpenWait {
		t.Fatalf("the off constants were replaced: %+v", b.cfg)
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
		{"invalid breaker", func(c *KeyedConfig[string]) { c.Breaker.OpenWait = -1 }, "KeyedConfig.Breaker: circuitbreaker: Config.OpenWait must be in (0, 24h0m0s]"},
		{"negative keys", func(c *KeyedConfig[string]) { c.MaxKeys = -1 }, "KeyedConfig.MaxKeys must be in [1, 2147483647] (0 means 10000), got -1"},
		{"too many keys", func(c *KeyedConfig[string]) { c.MaxKeys = math.MaxInt }, "KeyedConfig.MaxKeys must be in [1, 2147483647]"},
		{"open percent above 100", func(c *KeyedConfig[string]) { c.MaxOpenPercent = 101 }, "KeyedConfig.MaxOpenPercent must be 0 (no cap) or in (0, 100], got 101"},
		{"negative open percent", func(c *KeyedConfig[string]) { c.MaxOpenPercent = -5 }, "KeyedConfig.MaxOpenPercent must be 0 (no cap) or in (0, 100]"},
		{"NaN open percent", func(c *KeyedConfig[string]) { c.MaxOpenPercent = math.NaN() }, "KeyedConfig.MaxOpenPercent must be 0 (no cap) or in (0, 100], got NaN"},
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
