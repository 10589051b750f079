package bulwark_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/bulwark-go/bulwark"
	"github.com/stretchr/testify/assert"
)

type testEvent struct {
	name string
	n    int
}

func (e testEvent) Kind() string      { return "test.happened" }
func (e testEvent) Component() string { return e.name }
func (e testEvent) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("n", e.n))
}

func TestObserversFanOutInOrderAndSkipNil(t *testing.T) {
	var got []string
	rec := func(tag string) bulwark.Observer {
		return bulwark.ObserverFunc(func(_ context.Context, e bulwark.Event) { got = append(got, tag+":"+e.Kind()) })
	}
	assert.Nil(t, bulwark.Observers())
	assert.Nil(t, bulwark.Observers(nil, nil))
	one := rec("only")
	assert.NotNil(t, bulwark.Observers(nil, one))

	o := bulwark.Observers(rec("a"), nil, rec("b"))
	o.Observe(context.Background(), testEvent{n: 1})
	assert.Equal(t, []string{"a:test.happened", "b:test.happened"}, got)
}

func TestLogEventsWritesKindComponentAndFields(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))

	bulwark.LogEvents(logger, slog.LevelInfo).Observe(context.Background(), testEvent{name: "inventory", n: 3})
	assert.Contains(t, buf.String(), "msg=test.happened component=inventory event.n=3")

	buf.Reset()
	bulwark.LogEvents(logger, slog.LevelDebug).Observe(context.Background(), testEvent{n: 1})
	assert.Empty(t, buf.String(), "a level the logger drops writes nothing")

	buf.Reset()
	bulwark.LogEvents(logger, slog.LevelWarn).Observe(context.Background(), testEvent{n: 2})
	assert.NotContains(t, buf.String(), "component=", "an unnamed component has no component attribute")
}
