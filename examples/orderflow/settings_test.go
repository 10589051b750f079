package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark"
	"github.com/bulwark-go/bulwark/internal/testenv"
	"github.com/bulwark-go/bulwark/policyset"
	"github.com/bulwark-go/bulwark/timeout"
	"go.uber.org/goleak"
)

// startTestSettings starts the processor's settings in a temporary
// directory, or in etcd when e is not nil, and returns them with the story
// told so far.
func startTestSettings(t *testing.T, e *etcdRun) (*settings, func() string) {
	t.Helper()
	var out strings.Builder
	story := newStory(&out)
	fns, err := downstreamFunctions()
	if err != nil {
		t.Fatal(err)
	}
	s, err := startSettings(context.Background(), Options{Dir: t.TempDir(), Phase: time.Second}, e, fns, bulwark.ObserverFunc(func(context.Context, bulwark.Event) {}), story)
	if err != nil {
		t.Fatal(err)
	}
	return s, func() string {
		story.mu.Lock()
		defer story.mu.Unlock()
		return out.String()
	}
}

// TestSettingsRefuseABadDocumentAndApplyAGoodOne: the operator's change on
// each source: the document with the mistake is refused, logged at Error,
// and the settings stay (change checks the notifications timeout is still
// the old one); the corrected one is applied, and the live notification
// policy's timeout is the new one. The facts record both, and the ledger's
// check passes on them.
func TestSettingsRefuseABadDocumentAndApplyAGoodOne(t *testing.T) {
	for _, source := range []string{"file", "etcd"} {
		t.Run(source, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			var e *etcdRun
			if source == "etcd" {
				var err error
				if e, err = connectEtcd(context.Background(), strings.Join(testenv.EtcdEndpoints(t), ",")); err != nil {
					t.Fatal(err)
				}
				defer func() {
					if err := e.close(); err != nil {
						t.Error(err)
					}
				}()
			}
			s, told := startTestSettings(t, e)
			defer func() {
				if err := s.close(); err != nil {
					t.Error(err)
				}
			}()
			notify, err := s.set.Policy("notifications")
			if err != nil {
				t.Fatal(err)
			}
			if got := notify.Parts().Timeout.Settings().Timeout; got != notifyTimeoutBefore {
				t.Fatalf("notifications timeout %v at the start, want %v", got, notifyTimeoutBefore)
			}
			if err := s.change(context.Background(), time.Second); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(told(), `level=ERROR msg="policyset: document refused; the settings stay as they were" set=processor`) ||
				!strings.Contains(told(), "policies.notifications.bulkhead") {
				t.Errorf("the refusal was not logged with its reason:\n%s", told())
			}
			if got := notify.Parts().Timeout.Settings().Timeout; got != notifyTimeoutAfter {
				t.Errorf("notifications timeout %v after the change, want %v", got, notifyTimeoutAfter)
			}
			f := s.facts()
			if f.first == "" || f.bad == "" || f.changed == "" || !f.kept || len(f.refused) != 1 || f.refused[0].version != f.bad {
				t.Errorf("facts %+v: want the first, bad and changed versions, the bad one refused and the settings kept", f)
			}
			checks := judge(facts{settings: f})
			for _, c := range checks {
				if c.Promise == "settings changed live took effect" && !c.OK {
					t.Errorf("%s: %s", c.Promise, c.Detail)
				}
			}
		})
	}
}

// TestSettingsRecordNotificationTimeouts: a notification attempt that
// times out is recorded with the start of its call and the timeout it ran
// under; other services' timeouts are not.
func TestSettingsRecordNotificationTimeouts(t *testing.T) {
	s := &settings{consumer: "processor", outcomes: make(chan outcome, 1)}
	start := time.Now().Add(-time.Second)
	ctx := withCallStart(context.Background(), start)
	s.observe(ctx, timeout.TimedOut{Name: "notifications", Timeout: time.Second})
	s.observe(ctx, timeout.TimedOut{Name: "payments", Timeout: 500 * time.Millisecond})
	f := s.facts()
	if len(f.timeouts) != 1 || !f.timeouts[0].callStart.Equal(start) || f.timeouts[0].timeout != time.Second || f.timeouts[0].consumer != "processor" {
		t.Errorf("timeouts %+v, want the notifications one, started at %v, at 1s", f.timeouts, start)
	}
}

// TestSettingsDocumentIsValid: the documents the flow writes parse and
// apply, and differ only in the notifications timeout.
func TestSettingsDocumentIsValid(t *testing.T) {
	for _, d := range []time.Duration{notifyTimeoutBefore, notifyTimeoutAfter} {
		data, err := json.Marshal(processorSettings(6*time.Second, d))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := policyset.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		fns, err := downstreamFunctions()
		if err != nil {
			t.Fatal(err)
		}
		set, err := policyset.New(doc, policyset.Config{Functions: fns})
		if err != nil {
			t.Fatal(err)
		}
		if got := set.Names(); strings.Join(got, ",") != "inventory,notifications,payments" {
			t.Errorf("names %v", got)
		}
		p, _ := set.Policy("notifications")
		if got := p.Parts().Timeout.Settings().Timeout; got != d {
			t.Errorf("notifications timeout %v, want %v", got, d)
		}
	}
}

// TestWriteFileAtomically: the file holds the whole new contents.
func TestWriteFileAtomically(t *testing.T) {
	path := t.TempDir() + "/settings.json"
	for _, data := range []string{"first", "second"} {
		if err := writeFileAtomically(path, []byte(data)); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != data {
			t.Errorf("read %q, %v; want %q", got, err, data)
		}
	}
}
