package sqliteeventsource

import (
	"database/sql"
	"errors"
	"testing"

	"github.com/bulwark-go/bulwark/eventsource"
)

// FuzzStoredRow decodes rows with arbitrary event ID and header columns:
// never a panic, and every failure names the stream, version and type.
func FuzzStoredRow(f *testing.F) {
	f.Add([]byte("0123456789abcdef"), `{"tenant":"t1"}`, true)
	f.Add([]byte{1, 2}, ``, false)
	f.Add([]byte("0123456789abcdef"), `{"n":1}`, true)
	f.Add([]byte("0123456789abcdef"), `[`, true)
	f.Add([]byte(nil), `null`, true)
	f.Fuzz(func(t *testing.T, id []byte, headers string, valid bool) {
		r := storedRow{position: 9, version: 4, streamID: "acc-1", typ: "account.opened", schemaVersion: 2,
			eventID: id, headers: sql.NullString{String: headers, Valid: valid}}
		e, err := r.event()
		if err != nil {
			var de *eventsource.DecodeError
			if !errors.As(err, &de) || de.StreamID != "acc-1" || de.StreamVersion != 4 || de.Type != "account.opened" || de.SchemaVersion != 2 {
				t.Fatalf("error does not name the event: %v", err)
			}
			return
		}
		if len(id) != 16 || e.GlobalPosition != 9 {
			t.Fatalf("decoded a %d-byte ID into %v at position %d", len(id), e.ID, e.GlobalPosition)
		}
	})
}
