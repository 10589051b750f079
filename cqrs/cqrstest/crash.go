package cqrstest

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The crash tests of the SQL drivers run projectors in child processes
// that they kill with SIGKILL. Each child writes a line to a file of its
// own (CallLog) whenever its handler is called, committed or not; VerifyCalls
// reads the files of all the children and checks that no two of them ever
// ran the projection at the same time.

// CallLog records a projector process's handler calls in a file, one
// unbuffered write per call, so that what a killed process did is there.
type CallLog struct{ f *os.File }

// OpenCallLog opens (creating) the file at path for appending.
func OpenCallLog(path string) (*CallLog, error) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	return &CallLog{f: f}, nil
}

// Called records a call of the handler for the event at position.
func (l *CallLog) Called(position int64) error {
	_, err := fmt.Fprintf(l.f, "%d %d\n", time.Now().UnixNano(), position)
	return err
}

type call struct {
	at       int64
	owner    string
	position int64
}

// VerifyCalls reads the call logs (owner → file path) and checks that the
// owners' calls, in time order, form one run per owner: once another
// process has called the handler, the previous one never calls it again.
// It returns how many calls it read (a line cut by a kill is ignored).
func VerifyCalls(t *testing.T, logs map[string]string) int {
	t.Helper()
	var calls []call
	for owner, path := range logs {
		f, err := os.Open(path)
		if os.IsNotExist(err) {
			continue // the process never ran the projection
		}
		require.NoError(t, err)
		calls = append(calls, readCalls(t, f, owner)...)
		f.Close()
	}
	slices.SortFunc(calls, func(a, b call) int { return cmp.Compare(a.at, b.at) })
	done := map[string]bool{}
	for i, c := range calls {
		if i > 0 && calls[i-1].owner != c.owner {
			done[calls[i-1].owner] = true
			require.False(t, done[c.owner], "%s called the handler (position %d) after %s had taken over (position %d): two projectors ran at once",
				c.owner, c.position, calls[i-1].owner, calls[i-1].position)
		}
	}
	return len(calls)
}

func readCalls(t *testing.T, r io.Reader, owner string) []call {
	var out []call
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var c call
		if _, err := fmt.Sscanf(sc.Text(), "%d %d", &c.at, &c.position); err != nil || strings.Count(sc.Text(), " ") != 1 {
			continue
		}
		c.owner = owner
		out = append(out, c)
	}
	require.NoError(t, sc.Err())
	return out
}
