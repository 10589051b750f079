package sqlident_test

import (
	"strings"
	"testing"

	"github.com/bulwark-go/bulwark/internal/sqlident"
	"github.com/stretchr/testify/assert"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name, wantErr string
	}{
		{name: "outbox"},
		{name: "app.outbox_messages"},
		{name: "_t1"},
		{name: "", wantErr: "must not be empty"},
		{name: "a.b.c", wantErr: "more than one dot"},
		{name: "1table", wantErr: "starts with a digit"},
		{name: "app.", wantErr: "empty name part"},
		{name: `x"; drop table users; --`, wantErr: "only letters, digits and _"},
		{name: "tâble", wantErr: "only letters, digits and _"},
		{name: strings.Repeat("a", 64), wantErr: "longer than 63"},
	} {
		err := sqlident.Check("Table", tc.name)
		if tc.wantErr == "" {
			assert.NoError(t, err, tc.name)
			continue
		}
		if assert.Error(t, err, tc.name) {
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.Contains(t, err.Error(), "Table:", "the error names the setting")
		}
	}
}

func TestQuote(t *testing.T) {
	assert.Equal(t, `"outbox"`, sqlident.Quote("outbox"))
	assert.Equal(t, `"app"."outbox"`, sqlident.Quote("app.outbox"))
}
