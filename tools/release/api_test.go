package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestIncompatibleListsThePackagesGoreleaseNames(t *testing.T) {
	report := "# github.com/bulwark-go/bulwark\n## incompatible changes\nNewRejection: removed\n## compatible changes\nX: added\n\n" +
		"# github.com/bulwark-go/bulwark/retry\n## compatible changes\nY: added\n\n" +
		"# github.com/bulwark-go/bulwark/outbox\n## incompatible changes\nRelay.Run: changed\n\n# summary\nSuggested version: v0.2.0\n"
	got := incompatible(report)
	want := []string{"github.com/bulwark-go/bulwark", "github.com/bulwark-go/bulwark/outbox"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("incompatible = %q, want %q", got, want)
	}
}

func TestUnreleasedBreakingReadsOnlyTheUnreleasedList(t *testing.T) {
	changelog := "# Changelog\n\n## [Unreleased]\n\n### Breaking changes\n\n- `outbox`: Relay.Run takes a ctx\n\n### Added\n\n- `retry`: more\n\n" +
		"## [v0.1.0]\n\n### Breaking changes\n\n- `saga`: old\n"
	name := filepath.Join(t.TempDir(), "CHANGELOG.md")
	if err := os.WriteFile(name, []byte(changelog), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := unreleasedBreaking(name)
	if err != nil {
		t.Fatal(err)
	}
	if want := "\n- `outbox`: Relay.Run takes a ctx\n\n"; got != want {
		t.Fatalf("unreleasedBreaking = %q, want %q", got, want)
	}
}

func TestLatestTagIgnoresAdapterTagsAndPrereleases(t *testing.T) {
	repo := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		if out, err := execGit(repo, args...); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "x")
	if tag, err := latestTag(repo); err != nil || tag != "" {
		t.Fatalf("latestTag with no tags = %q, %v; want \"\"", tag, err)
	}
	for _, tag := range []string{"v0.1.0", "v0.10.0", "v0.2.0", "v0.11.0-rc.1", "adapters/nats/v0.12.0"} {
		git("tag", tag)
	}
	if tag, err := latestTag(repo); err != nil || tag != "v0.10.0" {
		t.Fatalf("latestTag = %q, %v; want v0.10.0", tag, err)
	}
}

func execGit(dir string, args ...string) ([]byte, error) {
	return exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
}

func TestNamesMatchesAPackageAsAWord(t *testing.T) {
	text := "#### retry\n- `hedge.Config.OnHedge` → Observer\n- stores (pgoutbox, sqliteoutbox)\n"
	for pkg, want := range map[string]bool{"retry": true, "hedge": true, "pgoutbox": true, "outbox": false, "retr": false, "saga": false} {
		if got := names(text, pkg); got != want {
			t.Errorf("names(%q) = %v, want %v", pkg, got, want)
		}
	}
}
