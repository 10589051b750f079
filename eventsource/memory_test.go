package eventsource_test

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/bulwark-go/bulwark/eventsource/eventsourcetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	eventsourcetest.Run(t, func(t *testing.T) eventsourcetest.Harness {
		s := eventsource.NewMemoryStore()
		return eventsourcetest.Harness{
			Store: s,
			HoldAppend: func(_ context.Context, stream string, expected eventsource.ExpectedVersion, events ...eventsource.EventData) (func(bool) error, error) {
				return s.HoldAppend(stream, expected, events...)
			},
		}
	})
}
