package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestStory checks that the plain client loses half its calls on its own
// and none through the sidecar.
func TestStory(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatalf("run: %v", err)
	}
	story := out.String()
	t.Logf("the example told:\n%s", story)
	for _, line := range []string{"directly: 5 of 10 calls succeeded", "through the sidecar: 10 of 10 calls succeeded"} {
		if !strings.Contains(story, line) {
			t.Errorf("the story lacks %q", line)
		}
	}
}
