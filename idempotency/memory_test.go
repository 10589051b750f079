package idempotency_test

import (
	"testing"

	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/idempotency/idempotencytest"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
)

func TestMemoryStoreConformance(t *testing.T) {
	leakcheck.Check(t)
	idempotencytest.Run(t, func(t *testing.T) idempotency.Store { return idempotency.NewMemoryStore() }, idempotencytest.Options{})
}
