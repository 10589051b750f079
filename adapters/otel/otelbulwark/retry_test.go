package otelbulwark_test

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/bulwark-go/bulwark/retry"
	"go.opentelemetry.io/otel/attribute"
)

var (
	retryAttempt = attribute.Key("bulwark.retry.attempt")
	retryReason  = attribute.Key("bulwark.retry.reason")
)

func TestRetryCountsRetriesByAttemptAndGiveUpsByReason(t *testing.T) {
	r := newRig(t, false)
	cfg := retry.Config{Name: "payments", Observer: r.tel, MaxAttempts: 3, Backoff: retry.Constant{}}
	rt, err := retry.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// A first-attempt success records nothing.
	if err := rt.Do(ctx, ok); err != nil {
		t.Fatal(err)
	}
	absent(t, r.collect(t), "bulwark.retry.retries", "bulwark.retry.give_ups")

	// Fails once with a *statusError, then succeeds.
	n := 0
	_ = rt.Do(ctx, func(context.Context) error {
		if n++; n == 1 {
			return &statusError{503}
		}
		return nil
	})
	// Fails three times: two retries, then gives up.
	_ = rt.Do(ctx, fail)
	// A permanent error is not retried.
	_ = rt.Do(ctx, func(context.Context) error { return retry.Permanent(errDown) })
	// The caller's context ends: Do gives up at once.
	cctx, cancel := context.WithCancel(ctx)
	_ = rt.Do(cctx, func(context.Context) error { cancel(); return errDown })

	payments := attrName.String("payments")
	got := r.collect(t)
	wantCounter(t, got, "bulwark.retry.retries", "{retry}",
		p(int64(1), payments, retryAttempt.Int(1), errorType.String("*otelbulwark_test.statusError")),
		p(int64(1), payments, retryAttempt.Int(1), errorType.String("*errors.errorString")),
		p(int64(1), payments, retryAttempt.Int(2), errorType.String("*errors.errorString")))
	wantCounter(t, got, "bulwark.retry.give_ups", "{call}",
		p(int64(1), payments, retryReason.String("max_attempts"), errorType.String("*errors.errorString")),
		p(int64(1), payments, retryReason.String("not_retryable"), errorType.String("*errors.errorString")),
		p(int64(1), payments, retryReason.String("canceled"), errorType.String("*errors.errorString")))
}

// statusError is an error type of the tests' own, to see error.type name it.
type statusError struct{ code int }

func (e *statusError) Error() string { return "status " + strconv.Itoa(e.code) }

func TestRetryAttemptAttributeIsCapped(t *testing.T) {
	r := newRig(t, false)
	cfg := retry.Config{Name: "flaky", Observer: r.tel, MaxAttempts: 13, Backoff: retry.Constant{}}
	rt, err := retry.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var stop *retry.Error
	if err := rt.Do(context.Background(), fail); !errors.As(err, &stop) {
		t.Fatalf("Do: %v", err)
	}
	flaky := attrName.String("flaky")
	var pts []pt[int64]
	for n := 1; n <= 9; n++ {
		pts = append(pts, p(int64(1), flaky, retryAttempt.Int(n), errorType.String("*errors.errorString")))
	}
	pts = append(pts, p(int64(3), flaky, retryAttempt.Int(10), errorType.String("*errors.errorString")))
	got := r.collect(t)
	wantCounter(t, got, "bulwark.retry.retries", "{retry}", pts...)
	wantCounter(t, got, "bulwark.retry.give_ups", "{call}",
		p(int64(1), flaky, retryReason.String("max_attempts"), errorType.String("*errors.errorString")))
}
