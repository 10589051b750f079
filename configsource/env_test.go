package configsource_test

import (
	"context"
	"testing"

	"github.com/bulwark-go/bulwark/configsource"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnvDeliversTheVariableOnceAndClosesWithTheContext(t *testing.T) {
	t.Setenv("BULWARK_TEST_POLICIES", `{"policies": {}}`)
	src, err := configsource.NewEnv("BULWARK_TEST_POLICIES")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := src.Watch(ctx)
	require.NoError(t, err)
	d := <-ch
	require.NoError(t, d.Err)
	assert.Equal(t, `{"policies": {}}`, string(d.Data))
	assert.NotEmpty(t, d.Version)
	cancel()
	_, open := <-ch
	assert.False(t, open)
}

func TestEnvUnsetIsAnError(t *testing.T) {
	src, err := configsource.NewEnv("BULWARK_TEST_SURELY_UNSET")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, _ := src.Watch(ctx)
	d := <-ch
	assert.ErrorContains(t, d.Err, "BULWARK_TEST_SURELY_UNSET is not set")
	_, err = configsource.NewEnv("")
	assert.Error(t, err)
}
