package kafkaconsume_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adapters/kafka/kafkaconsume"
	"github.com/bulwark-go/bulwark/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestNewRejectsInvalidSettings(t *testing.T) {
	seeds := kgo.SeedBrokers("127.0.0.1:1")
	for _, tc := range []struct {
		name   string
		group  string
		topics []string
		cfg    kafkaconsume.Config
		want   string
	}{
		{"NoGroup", "", []string{"t"}, kafkaconsume.Config{}, "kafkaconsume: New: group must not be empty"},
		{"NoTopics", "g", nil, kafkaconsume.Config{}, "kafkaconsume: New: topics must name at least one topic"},
		{"BadTopic", "g", []string{"a b"}, kafkaconsume.Config{}, `kafkaconsume: New: topics: kafkaoutbox: the topic "a b" holds ' ': Kafka takes [a-zA-Z0-9._-]`},
		{"RetryTopicIsASourceTopic", "g", []string{"a", "b"}, kafkaconsume.Config{RetryTopic: func(string) string { return "b" }},
			`kafkaconsume: Config.RetryTopic("a") must not be a topic given to New, got "b"`},
		{"BadRetryTopic", "g", []string{"a"}, kafkaconsume.Config{RetryTopic: func(string) string { return "" }},
			`kafkaconsume: Config.RetryTopic("a"): kafkaoutbox: the topic "" (0 bytes) is not 1 to 249 of [a-zA-Z0-9._-] other than "." and ".."`},
		{"CommitInterval", "g", []string{"t"}, kafkaconsume.Config{CommitInterval: -1}, "kafkaconsume: Config.CommitInterval must be 0 or in [1ms, 1h], got -1ns"},
		{"RevokeWait", "g", []string{"t"}, kafkaconsume.Config{RevokeWait: 2 * time.Hour}, "kafkaconsume: Config.RevokeWait must be 0 or in [1ms, 1h], got 2h0m0s"},
		{"RevokeWaitOverRebalanceTimeout", "g", []string{"t"}, kafkaconsume.Config{RevokeWait: time.Minute},
			"kafkaconsume: Config.RevokeWait must be less than the client's rebalance timeout 1m0s, got 1m0s"},
		{"MaxHeld", "g", []string{"t"}, kafkaconsume.Config{MaxHeld: -1}, "kafkaconsume: Config.MaxHeld must be 0 or in [1, 1e6], got -1"},
		{"OptsGroup", "g", []string{"t"}, kafkaconsume.Config{Opts: []kgo.Opt{seeds, kgo.ConsumerGroup("other")}},
			`kafkaconsume: Config.Opts must not set kgo.ConsumerGroup (the group is New's group), got "other"`},
		{"OptsTopics", "g", []string{"t"}, kafkaconsume.Config{Opts: []kgo.Opt{seeds, kgo.ConsumeTopics("x")}},
			`kafkaconsume: Config.Opts must not set kgo.ConsumeTopics (the topics are New's topics), got ["x"]`},
		{"OptsRegex", "g", []string{"t"}, kafkaconsume.Config{Opts: []kgo.Opt{seeds, kgo.ConsumeRegex()}},
			"kafkaconsume: Config.Opts must not set kgo.ConsumeRegex: New's topics are names"},
		{"OptsNotDurable", "g", []string{"t"}, kafkaconsume.Config{Opts: []kgo.Opt{seeds, kgo.DisableIdempotentWrite()}},
			"kafkaconsume: Config.Opts must write idempotently (the default), got kgo.DisableIdempotentWrite"},
		{"OptsInvalid", "g", []string{"t"}, kafkaconsume.Config{Opts: []kgo.Opt{kgo.SeedBrokers()}},
			"kafkaconsume: Config.Opts: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg.Opts == nil {
				cfg.Opts = []kgo.Opt{seeds}
			}
			s, err := kafkaconsume.New(tc.group, tc.topics, cfg)
			require.Error(t, err)
			assert.Nil(t, s)
			if strings.HasSuffix(tc.want, ": ") {
				assert.ErrorContains(t, err, tc.want)
			} else {
				assert.EqualError(t, err, tc.want)
			}
		})
	}
}

func TestNewAcceptsTheZeroConfig(t *testing.T) {
	s, err := kafkaconsume.New("g", []string{"t"}, kafkaconsume.Config{Opts: []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")}})
	require.NoError(t, err)
	require.NoError(t, s.Close(context.Background()), "a Source never received from has nothing to close")
	_, err = s.Receive(context.Background(), 1)
	assert.ErrorIs(t, err, kafkaconsume.ErrClosed)
	assert.Equal(t, kafkaconsume.Config{CommitInterval: time.Second, RevokeWait: 10 * time.Second, MaxHeld: 1024, Clock: clock.System}, kafkaconsume.DefaultConfig())
	assert.PanicsWithValue(t, "kafkaconsume: Source used without New", func() {
		_, _ = new(kafkaconsume.Source).Receive(context.Background(), 1)
	})
}
