package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestChargedOnceDespiteRetriesAndDuplicates(t *testing.T) {
	for _, store := range []string{"sqlite", "memory"} {
		t.Run(store, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var out strings.Builder
			if err := run(ctx, &out, store); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			s := out.String()
			for _, want := range []string{
				"timed out, retrying with the same key",
				"409, the first request is still running",
				"replayed=true",
				"final: 422",
				"Every payment was charged exactly once.",
			} {
				if !strings.Contains(s, want) {
					t.Errorf("output lacks %q:\n%s", want, s)
				}
			}
		})
	}
}
