package retry_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/retry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAttemptJSONRoundTrip(t *testing.T) {
	start := time.Date(2026, 12, 7, 10, 0, 0, 123, time.UTC)
	in := []retry.Attempt{
		{Number: 1, Start: start, Duration: 1500 * time.Microsecond, Err: errors.New("boom"), Delay: 100 * time.Millisecond},
		{Number: 2, Start: start.Add(time.Second), Duration: time.Millisecond},
	}
	data, err := json.Marshal(in)
	require.NoError(t, err)
	assert.JSONEq(t, `[{"number":1,"start":"2026-12-07T10:00:00.000000123Z","duration":"1.5ms","error":"boom","delay":"100ms"},
		{"number":2,"start":"2026-12-07T10:00:01.000000123Z","duration":"1ms"}]`, string(data))
	var out []retry.Attempt
	require.NoError(t, json.Unmarshal(data, &out))
	require.Len(t, out, 2)
	assert.Equal(t, "boom", out[0].Err.Error())
	assert.Nil(t, out[1].Err)
	out[0].Err, in[0].Err = nil, nil
	assert.Equal(t, in, out)
}

func TestAttemptJSONRefusesBadDurations(t *testing.T) {
	var a retry.Attempt
	assert.ErrorContains(t, json.Unmarshal([]byte(`{"number":3,"duration":"soon"}`), &a), "attempt 3: duration")
	assert.ErrorContains(t, json.Unmarshal([]byte(`{"number":3,"duration":"1s","delay":"later"}`), &a), "attempt 3: delay")
}
