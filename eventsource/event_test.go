package eventsource_test

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark/eventsource"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
)

func TestCausedBy(t *testing.T) {
	cause := eventsource.Event{ID: uuid.New()}
	md := eventsource.CausedBy(cause)
	assert.Equal(t, cause.ID.String(), md.CorrelationID, "an event without correlation starts one")
	assert.Equal(t, cause.ID.String(), md.CausationID)

	cause.Metadata.CorrelationID = "order-7"
	md = eventsource.CausedBy(cause)
	assert.Equal(t, "order-7", md.CorrelationID, "the correlation is kept")
	assert.Equal(t, cause.ID.String(), md.CausationID)
}

func TestMetadataContext(t *testing.T) {
	assert.Equal(t, eventsource.Metadata{}, eventsource.MetadataFromContext(context.Background()))
	md := eventsource.Metadata{CorrelationID: "c", Headers: map[string]string{"a": "b"}}
	assert.Equal(t, md, eventsource.MetadataFromContext(eventsource.ContextWithMetadata(context.Background(), md)))
}

func TestVersionConflictErrorMessage(t *testing.T) {
	err := &eventsource.VersionConflictError{StreamID: "acc-1", Expected: 3, Actual: 5}
	assert.Equal(t, `eventsource: version conflict on stream "acc-1": expected version 3, stream is at 5`, err.Error())
	err = &eventsource.VersionConflictError{StreamID: "acc-1", Expected: eventsource.NoStream, Actual: 2}
	assert.Contains(t, err.Error(), "expected version no stream (0), stream is at 2")
	assert.ErrorIs(t, err, eventsource.ErrVersionConflict)
}
