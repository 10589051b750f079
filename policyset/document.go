package policyset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Document is the configuration of a Set: policy chains by name.
type Document struct {
	Policies map[string]Spec `json:"policies"`
}

// Spec is one named chain: the parts it has, each with its settings. A nil
// part is not in the chain; a part given as {} has its package's defaults.
// Every field's zero value means its package's default, as in that
// package's Config.
type Spec struct {
	Retry          *RetrySpec     `json:"retry,omitempty"`
	CircuitBreaker *BreakerSpec   `json:"circuit_breaker,omitempty"`
	RateLimit      *RateLimitSpec `json:"rate_limit,omitempty"`
	Bulkhead       *BulkheadSpec  `json:"bulkhead,omitempty"`
	Hedge          *HedgeSpec     `json:"hedge,omitempty"`
	Timeout        *TimeoutSpec   `json:"timeout,omitempty"`
	Chaos          *ChaosSpec     `json:"chaos,omitempty"`
}

// RetrySpec sets a retry.Config.
type RetrySpec struct {
	MaxAttempts    int          `json:"max_attempts,omitempty"` // -1: retry.Unlimited
	MaxElapsedTime Duration     `json:"max_elapsed_time,omitempty"`
	Backoff        *BackoffSpec `json:"backoff,omitempty"`
	MaxDelay       Duration     `json:"max_delay,omitempty"`
	AttemptTimeout Duration     `json:"attempt_timeout,omitempty"`
	RetryRejected  bool         `json:"retry_rejected,omitempty"`
}

// BackoffSpec chooses a retry.Backoff: Type "exponential" (the default:
// Initial, Multiplier, Jitter "full", "equal" or "none"), "constant"
// (Delay) or "decorrelated" (Base).
type BackoffSpec struct {
	Type       string   `json:"type,omitempty"`
	Initial    Duration `json:"initial,omitempty"`
	Multiplier float64  `json:"multiplier,omitempty"`
	Jitter     string   `json:"jitter,omitempty"`
	Delay      Duration `json:"delay,omitempty"`
	Base       Duration `json:"base,omitempty"`
}

// BreakerSpec sets a circuitbreaker.Config. The window is WindowCalls calls
// (circuitbreaker.LastCalls), or, with WindowDuration, that long in
// WindowBuckets buckets (circuitbreaker.LastDuration); neither means the
// default window.
type BreakerSpec struct {
	WindowCalls           int      `json:"window_calls,omitempty"`
	WindowDuration        Duration `json:"window_duration,omitempty"`
	WindowBuckets         int      `json:"window_buckets,omitempty"`
	FailureRateThreshold  float64  `json:"failure_rate_threshold,omitempty"`
	MinimumCalls          int      `json:"minimum_calls,omitempty"`
	ConsecutiveFailures   int      `json:"consecutive_failures,omitempty"`
	SlowCallDuration      Duration `json:"slow_call_duration,omitempty"`
	SlowCallRateThreshold float64  `json:"slow_call_rate_threshold,omitempty"`
	OpenWait              Duration `json:"open_wait,omitempty"`
	OpenWaitMultiplier    float64  `json:"open_wait_multiplier,omitempty"` // 1: circuitbreaker.FixedOpenWait
	MaxOpenWait           Duration `json:"max_open_wait,omitempty"`
	OpenWaitJitter        float64  `json:"open_wait_jitter,omitempty"` // -1: circuitbreaker.NoJitter
	HalfOpenCalls         int      `json:"half_open_calls,omitempty"`
	HalfOpenSuccesses     int      `json:"half_open_successes,omitempty"`
	MaxHalfOpenWait       Duration `json:"max_half_open_wait,omitempty"` // "none": circuitbreaker.NoMaxHalfOpenWait
	DryRun                bool     `json:"dry_run,omitempty"`
}

// RateLimitSpec sets a ratelimit.Config. Algorithm is "token_bucket" (the
// default) or "sliding_window".
type RateLimitSpec struct {
	Algorithm string   `json:"algorithm,omitempty"`
	Limit     int      `json:"limit,omitempty"`
	Period    Duration `json:"period,omitempty"`
	Burst     int      `json:"burst,omitempty"`
	MaxWait   Duration `json:"max_wait,omitempty"`
}

// BulkheadSpec sets a bulkhead.Config. Adaptive is "" (a fixed limit),
// "aimd" or "gradient", with that algorithm's defaults under MaxConcurrent.
type BulkheadSpec struct {
	MaxConcurrent int      `json:"max_concurrent,omitempty"`
	MaxWaiting    int      `json:"max_waiting,omitempty"`
	MaxWait       Duration `json:"max_wait,omitempty"`
	Adaptive      string   `json:"adaptive,omitempty"`
}

// HedgeSpec sets a hedge.Config.
type HedgeSpec struct {
	Delay         Duration `json:"delay,omitempty"` // "none": hedge.NoDelay
	MaxHedges     int      `json:"max_hedges,omitempty"`
	Percentile    float64  `json:"percentile,omitempty"` // -1: hedge.NoPercentile
	Window        int      `json:"window,omitempty"`
	AllIdempotent bool     `json:"all_idempotent,omitempty"`
}

// TimeoutSpec sets a timeout.Config.
type TimeoutSpec struct {
	Timeout Duration `json:"timeout,omitempty"`
	Detach  bool     `json:"detach,omitempty"`
}

// ChaosSpec sets a chaos.Config's faults and switch.
type ChaosSpec struct {
	ErrorRate   float64  `json:"error_rate,omitempty"`
	PanicRate   float64  `json:"panic_rate,omitempty"`
	LatencyRate float64  `json:"latency_rate,omitempty"`
	Latency     Duration `json:"latency,omitempty"`
	Disabled    bool     `json:"disabled,omitempty"`
}

// Parse reads a JSON document strictly: an unknown field, a value of the
// wrong type or trailing data is an error that says where it is. Parse
// checks the form only; New and Apply check the settings.
func Parse(data []byte) (*Document, error) {
	var raw struct {
		Policies map[string]json.RawMessage `json:"policies"`
	}
	if err := decodeStrict(data, &raw); err != nil {
		return nil, fmt.Errorf("policyset: %w", describe("", err))
	}
	if raw.Policies == nil {
		return nil, errors.New("policyset: the document has no \"policies\"")
	}
	doc := &Document{Policies: make(map[string]Spec, len(raw.Policies))}
	for name, specData := range raw.Policies {
		var spec Spec
		if err := decodeStrict(specData, &spec); err != nil {
			return nil, fmt.Errorf("policyset: %w", describe("policies."+name, err))
		}
		doc.Policies[name] = spec
	}
	return doc, nil
}

// decodeStrict decodes one JSON value into v, refusing unknown fields and
// trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the document")
	}
	return nil
}

// describe names the place of a decoding error under the path at.
func describe(at string, err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return fmt.Errorf("%s: must be a %v, got a JSON %s", join(at, typeErr.Field), typeErr.Type, typeErr.Value)
	}
	if at != "" {
		return fmt.Errorf("%s: %w", at, err)
	}
	return err
}

func join(at, field string) string {
	if at == "" {
		return field
	}
	return at + "." + field
}

// names returns the document's names, sorted, so that errors name the first
// bad one the same way every time.
func (d *Document) names() []string {
	names := make([]string, 0, len(d.Policies))
	for n := range d.Policies {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func checkName(name string) error {
	if strings.TrimSpace(name) == "" {
		return errors.New("policyset: a policy name must not be empty")
	}
	return nil
}
