package idempotency_test

import (
	"testing"

	"github.com/bulwark-go/bulwark/idempotency"
	"github.com/bulwark-go/bulwark/idempotency/idempotencytest"
	"github.com/bulwark-go/bulwark/internal/leakcheck"
	"github.com/stretchr/testify/assert"
)

func TestMemoryStoreConformance(t *testing.T) {
	leakcheck.Check(t)
	idempotencytest.Run(t, func(t *testing.T) idempotencytest.Harness {
		return idempotencytest.Harness{Store: idempotency.NewMemoryStore()}
	})
}

func TestZeroMemoryStorePanics(t *testing.T) {
	assert.PanicsWithValue(t, "idempotency: MemoryStore used without NewMemoryStore", func() {
		_, _ = new(idempotency.MemoryStore).Claim(t.Context(), idempotency.Claim{})
	})
}
