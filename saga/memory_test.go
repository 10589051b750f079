package saga_test

import (
	"testing"

	"github.com/bulwark-go/bulwark/saga"
	"github.com/bulwark-go/bulwark/saga/sagatest"
)

func TestMemoryStoreConformance(t *testing.T) {
	sagatest.Run(t, func(*testing.T) sagatest.Harness {
		return sagatest.Harness{Store: saga.NewMemoryStore()}
	})
}
