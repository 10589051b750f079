package outbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/outbox"
	"github.com/bulwark-go/bulwark/outbox/outboxtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMemoryStoreConformance(t *testing.T) {
	outboxtest.Run(t, func(t *testing.T) outboxtest.Harness {
		s := outbox.NewMemoryStore()
		return outboxtest.Harness{Store: s, Enqueue: s.Enqueue}
	})
}

func TestMemoryPublisherConformance(t *testing.T) {
	outboxtest.RunPublisher(t, func(t *testing.T) outboxtest.PublisherHarness {
		p := outbox.NewMemoryPublisher()
		return outboxtest.PublisherHarness{
			Publisher: p,
			Receive: func(ctx context.Context, n int) ([]outbox.Message, error) {
				if err := p.WaitFor(ctx, n); err != nil {
					return nil, err
				}
				return p.Messages(), nil
			},
		}
	})
}

// TestMemoryStoreLeaseExpires: a claim not finished within its lease is
// taken over, and the late Finish records nothing.
func TestMemoryStoreLeaseExpires(t *testing.T) {
	ctx := context.Background()
	s := outbox.NewMemoryStore()
	require.NoError(t, s.Enqueue(ctx, outbox.Message{Topic: "t", Key: "a"}))
	now := time.Now()
	first, err := s.Claim(ctx, outbox.ClaimRequest{Limit: 10, Now: now, Lease: time.Second})
	require.NoError(t, err)
	require.Len(t, first.Messages(), 1)

	other, err := s.Claim(ctx, outbox.ClaimRequest{Limit: 10, Now: now.Add(999 * time.Millisecond), Lease: time.Second})
	require.NoError(t, err)
	assert.Empty(t, other.Messages(), "held within the lease")
	require.NoError(t, other.Release(ctx))

	second, err := s.Claim(ctx, outbox.ClaimRequest{Limit: 10, Now: now.Add(time.Second), Lease: time.Second})
	require.NoError(t, err)
	require.Len(t, second.Messages(), 1, "taken over once the lease ended")

	err = first.Finish(ctx, outbox.Outcome{Now: now.Add(time.Second), Published: []int{0}})
	assert.ErrorIs(t, err, outbox.ErrClaimLost)
	require.NoError(t, second.Finish(ctx, outbox.Outcome{Now: now.Add(time.Second), Published: []int{0}}))
	st, err := s.Stats(ctx)
	require.NoError(t, err)
	assert.Zero(t, st.Pending)
}

func TestMemoryStoreCopiesMessages(t *testing.T) {
	ctx := context.Background()
	s := outbox.NewMemoryStore()
	m := outbox.Message{Topic: "t", Key: "a", Payload: []byte("abc"), Headers: map[string]string{"h": "1"}}
	require.NoError(t, s.Enqueue(ctx, m))
	m.Payload[0] = 'X'
	m.Headers["h"] = "2"
	b, err := s.Claim(ctx, outbox.ClaimRequest{Limit: 1, Now: time.Now(), Lease: time.Minute})
	require.NoError(t, err)
	assert.Equal(t, "abc", string(b.Messages()[0].Payload))
	assert.Equal(t, "1", b.Messages()[0].Headers["h"])
}
