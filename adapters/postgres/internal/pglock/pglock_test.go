package pglock_test

import (
	"testing"

	"github.com/bulwark-go/bulwark/adapters/postgres/internal/pglock"
	"github.com/stretchr/testify/assert"
)

// TestKeysArePinned: processes of the previous release take these locks
// too, so a changed value would let an old and a new process enqueue for
// one key, or append to one stream, at once.
func TestKeysArePinned(t *testing.T) {
	assert.Equal(t, int64(-4298698811609297273), pglock.OutboxKey("outbox_messages", "order-1"))
	assert.Equal(t, int64(-8093542067801091113), pglock.OutboxKey("outbox_messages", ""))
	assert.Equal(t, int64(6577123528898229984), pglock.OutboxKey("app.orders_outbox", "customer-42"))
	assert.NotEqual(t, pglock.OutboxKey("ab", "c"), pglock.OutboxKey("a", "bc"), "the 0x00 separates table and key")

	assert.Equal(t, "hashtextextended(p_stream, events_oid)", pglock.EventStream)
	assert.Equal(t, "sequence_oid, 0", pglock.PositionWindow)
	assert.Equal(t, "(p % 4294967296 - 2147483648)::integer", pglock.InFlightPosition)
	assert.Equal(t, `events_oid, "e_inflight"(first)`, pglock.InFlight(`"e_inflight"`, "first"))
}

// TestMigrateIsNotARetiredKey: the previous release's Migrate keys stay
// retired, so a process of that release migrating its store does not
// serialise against a new one by accident of a shared value.
func TestMigrateIsNotARetiredKey(t *testing.T) {
	for _, retired := range []int64{pglock.OutboxKey("pgoutbox.migrate", ""), 0x62756c7761726b05, 0x62756c7761726b06, 0x62756c7761726b0c, 0x62756c77} {
		assert.NotEqual(t, retired, pglock.Migrate)
	}
	assert.Equal(t, int64(8639669204098305046), pglock.OutboxKey("pgoutbox.migrate", ""))
}
