package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/mod/semver"
)

// gorelease is the command api runs, from PATH; .ci/run installs it at the
// version its GORELEASE variable pins.
const gorelease = "gorelease"

// api compares each released module's API with the latest release tag
// (vX.Y.Z) by running gorelease in the module's directory. Both sides come
// from a file module proxy: the tagged release, made from a worktree at the
// tag, and, when the tree requires its siblings at a newer version, the
// working tree at that version. An incompatible change fails the check when
// the set's major version is 1 or more (gorelease itself refuses it), and,
// below v1, unless CHANGELOG.md's Unreleased section has a "### Breaking
// changes" list that names the changed package (as a heading or in a
// bullet). With no tag yet there is
// nothing to compare, and api says so and succeeds.
func api(s *set) error {
	base, err := latestTag(s.repo)
	if err != nil {
		return err
	}
	if base == "" {
		fmt.Println("no release tagged yet: nothing to compare the API with")
		return nil
	}
	current, err := s.version()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "bulwark-release-api-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	proxy := filepath.Join(work, "proxy")
	tree := filepath.Join(work, "base")
	if out, err := exec.Command("git", "-C", s.repo, "worktree", "add", "--detach", tree, base).CombinedOutput(); err != nil {
		return fmt.Errorf("checking out %s: %w\n%s", base, err, out)
	}
	defer exec.Command("git", "-C", s.repo, "worktree", "remove", "--force", tree).Run()
	old, err := loadSet(tree)
	if err != nil {
		return fmt.Errorf("the release %s: %w", base, err)
	}
	if err := old.publishSet(proxy, base); err != nil {
		return err
	}
	if current != base {
		if err := s.publishSet(proxy, current); err != nil {
			return err
		}
	}
	env, err := freshUser(proxy)
	if err != nil {
		return err
	}
	defer forgetSet(env)
	breaking, err := unreleasedBreaking(filepath.Join(s.repo, "CHANGELOG.md"))
	if err != nil {
		return err
	}
	fmt.Printf("API of %d modules against %s\n", len(s.released()), base)
	var failed []string
	for _, m := range s.released() {
		if old.member(m.path) == nil {
			fmt.Printf("new  %s: not in %s\n", m.path, base)
			continue
		}
		cmd := exec.Command(gorelease, "-base="+base)
		cmd.Dir, cmd.Env = filepath.Join(s.repo, m.dir), env
		out, err := cmd.CombinedOutput()
		report := string(out)
		if err != nil && semver.Major(current) != "v0" {
			failed = append(failed, fmt.Sprintf("%s: gorelease: %v\n%s", m.path, err, report))
			continue
		}
		pkgs := incompatible(report)
		var missing []string
		for _, p := range pkgs {
			if !names(breaking, path.Base(p)) {
				missing = append(missing, p)
			}
		}
		switch {
		case len(missing) > 0:
			failed = append(failed, fmt.Sprintf("%s: incompatible changes in %s, which CHANGELOG.md's Unreleased \"### Breaking changes\" does not name:\n%s",
				m.path, strings.Join(missing, ", "), report))
		case len(pkgs) > 0:
			fmt.Printf("ok   %s: incompatible changes in %s, listed in CHANGELOG.md\n", m.path, strings.Join(pkgs, ", "))
		default:
			fmt.Printf("ok   %s: compatible with %s\n", m.path, base)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("API check against %s:\n%s", base, strings.Join(failed, "\n"))
	}
	return nil
}

// latestTag returns the highest release tag of the core (vX.Y.Z, no
// prerelease), or "" when there is none.
func latestTag(repo string) (string, error) {
	out, err := exec.Command("git", "-C", repo, "tag", "--list", "v*").Output()
	if err != nil {
		return "", fmt.Errorf("listing tags: %w", err)
	}
	latest := ""
	for _, t := range strings.Fields(string(out)) {
		if semver.IsValid(t) && semver.Prerelease(t) == "" && semver.Build(t) == "" && semver.Compare(t, latest) > 0 {
			latest = t
		}
	}
	return latest, nil
}

// incompatible returns the packages gorelease's report lists under
// "## incompatible changes".
func incompatible(report string) []string {
	var pkgs []string
	pkg := ""
	sc := bufio.NewScanner(strings.NewReader(report))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# "):
			pkg = strings.TrimPrefix(line, "# ")
		case line == "## incompatible changes" && pkg != "":
			pkgs = append(pkgs, pkg)
		}
	}
	return pkgs
}

// names reports whether text names the package pkg as a word ("retry" in
// "#### retry" or "`retry.Config`", not in "retrying").
func names(text, pkg string) bool {
	return regexp.MustCompile(`(^|[^\w])` + regexp.QuoteMeta(pkg) + `($|[^\w])`).MatchString(text)
}

// unreleasedBreaking returns the "### Breaking changes" part of the
// changelog's Unreleased section ("" when it has none).
func unreleasedBreaking(name string) (string, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	inUnreleased, inBreaking := false, false
	for line := range strings.Lines(string(data)) {
		switch {
		case strings.HasPrefix(line, "## "):
			inUnreleased, inBreaking = strings.Contains(line, "Unreleased"), false
		case strings.HasPrefix(line, "### "):
			inBreaking = inUnreleased && strings.HasPrefix(line, "### Breaking changes")
		case inBreaking:
			b.WriteString(line)
		}
	}
	return b.String(), nil
}
