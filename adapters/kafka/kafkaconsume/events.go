package kafkaconsume

import (
	"fmt"
	"log/slog"

	"github.com/bulwark-go/bulwark"
)

var (
	_ bulwark.Event = Revoked{}
	_ bulwark.Event = Lost{}
	_ bulwark.Event = CommitFailed{}
	_ bulwark.Event = FetchFailed{}
)

// Revoked is reported when the group took partitions from the Source in a
// rebalance, after the Source waited for their deliveries and committed
// what was done.
type Revoked struct {
	// Source is the Source's Config.Name.
	Source string
	// Partitions are the revoked partitions by topic.
	Partitions map[string][]int32
	// Abandoned counts the deliveries still unsettled after
	// Config.RevokeWait: settling them returns consume.ErrGone, and the
	// partitions' next owner delivers them again.
	Abandoned int
	// Err is the commit's error, if it failed (the next owner then starts
	// from the last committed offsets and delivers more again).
	Err error
}

// Kind returns "kafkaconsume.revoked".
func (Revoked) Kind() string { return "kafkaconsume.revoked" }

// Component returns the Source's name.
func (e Revoked) Component() string { return e.Source }

// LogValue returns the partitions, the abandoned count and the error.
func (e Revoked) LogValue() slog.Value {
	return slog.GroupValue(slog.String("partitions", fmt.Sprint(e.Partitions)), slog.Int("abandoned", e.Abandoned), slog.Any("error", e.Err))
}

// Lost is reported when the Source lost partitions without a rebalance (its
// membership expired, say): their deliveries are gone at once and nothing
// more of them is committed.
type Lost struct {
	// Source is the Source's Config.Name.
	Source string
	// Partitions are the lost partitions by topic.
	Partitions map[string][]int32
	// Abandoned counts the deliveries that were out.
	Abandoned int
}

// Kind returns "kafkaconsume.lost".
func (Lost) Kind() string { return "kafkaconsume.lost" }

// Component returns the Source's name.
func (e Lost) Component() string { return e.Source }

// LogValue returns the partitions and the abandoned count.
func (e Lost) LogValue() slog.Value {
	return slog.GroupValue(slog.String("partitions", fmt.Sprint(e.Partitions)), slog.Int("abandoned", e.Abandoned))
}

// CommitFailed is reported when a commit of done offsets failed. The
// periodic commit tries again with what is done by then.
type CommitFailed struct {
	// Source is the Source's Config.Name.
	Source string
	// Err is the commit's error.
	Err error
}

// Kind returns "kafkaconsume.commit_failed".
func (CommitFailed) Kind() string { return "kafkaconsume.commit_failed" }

// Component returns the Source's name.
func (e CommitFailed) Component() string { return e.Source }

// LogValue returns the error.
func (e CommitFailed) LogValue() slog.Value { return slog.GroupValue(slog.Any("error", e.Err)) }

// FetchFailed is reported for an error a poll returned for one partition;
// the client keeps fetching (it retries what it can on its own).
type FetchFailed struct {
	// Source is the Source's Config.Name.
	Source string
	// Topic and Partition say where the error came from (Partition is -1
	// for an error of the whole fetch).
	Topic     string
	Partition int32
	// Err is the error.
	Err error
}

// Kind returns "kafkaconsume.fetch_failed".
func (FetchFailed) Kind() string { return "kafkaconsume.fetch_failed" }

// Component returns the Source's name.
func (e FetchFailed) Component() string { return e.Source }

// LogValue returns the topic, partition and error.
func (e FetchFailed) LogValue() slog.Value {
	return slog.GroupValue(slog.String("topic", e.Topic), slog.Int("partition", int(e.Partition)), slog.Any("error", e.Err))
}
