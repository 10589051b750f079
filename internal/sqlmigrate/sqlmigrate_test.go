package sqlmigrate_test

import (
	"errors"
	"testing"

	"github.com/bulwark-go/bulwark/internal/sqlmigrate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBuild(t *testing.T) {
	m := sqlmigrate.Build("pgx", "app.things", "CREATE TABLE IF NOT EXISTS {{migrations}} ();\n", []sqlmigrate.Migration{
		{Version: 1, Name: "make things", SQL: "\nCREATE TABLE x ();\n"},
		{Version: 2, Name: "it's two", SQL: "SELECT 1;"},
	})
	require.Len(t, m, 2)
	assert.Equal(t, `-- bulwark pgx, version 1: make things.
CREATE TABLE IF NOT EXISTS "app"."bulwark_migrations" ();

CREATE TABLE x ();

INSERT INTO "app"."bulwark_migrations" (store, table_name, version, name)
VALUES ('pgx', 'things', 1, 'make things')
ON CONFLICT DO NOTHING;
`, m[0].SQL)
	assert.Contains(t, m[1].SQL, `VALUES ('pgx', 'things', 2, 'it''s two')`)
	assert.Contains(t, sqlmigrate.Build("pgx", "t", "{{migrations}}", m[:1])[0].SQL, `INSERT INTO "bulwark_migrations"`)
	assert.PanicsWithValue(t, "sqlmigrate: pgx step 1 has version 2", func() {
		sqlmigrate.Build("pgx", "t", "", []sqlmigrate.Migration{{Version: 2}})
	})
}

type schema []sqlmigrate.Migration

func (s schema) Migrations() []sqlmigrate.Migration { return s }

func TestOf(t *testing.T) {
	m, err := sqlmigrate.Of(schema{{Version: 1}}, nil)
	require.NoError(t, err)
	assert.Equal(t, []sqlmigrate.Migration{{Version: 1}}, m)
	m, err = sqlmigrate.Of(schema{{Version: 1}}, errors.New("bad config"))
	assert.EqualError(t, err, "bad config")
	assert.Nil(t, m)
}

func TestNext(t *testing.T) {
	m := []sqlmigrate.Migration{{Version: 1}, {Version: 2}}
	next, ok := sqlmigrate.Next(m, 0)
	assert.True(t, ok)
	assert.Equal(t, 1, next.Version)
	next, ok = sqlmigrate.Next(m, 1)
	assert.True(t, ok)
	assert.Equal(t, 2, next.Version)
	_, ok = sqlmigrate.Next(m, 2)
	assert.False(t, ok)
	_, ok = sqlmigrate.Next(m, 7)
	assert.False(t, ok, "a later database")
}
