package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// root is the module path of the core; every module of the set lives below it.
const root = "github.com/bulwark-go/bulwark"

// notReleased are the directories whose modules are not released: runnable
// examples, benchmarks, development tools and modules that hold only tests.
// They still require their siblings at the set's version, so that bump keeps
// the whole repository in step.
var notReleased = []string{"examples", "benchmarks", "tools", "tests"}

// modInfo is one module of the repository.
type modInfo struct {
	dir      string // relative to the repository root, "." for the core
	path     string
	file     *modfile.File
	released bool
}

// set is every module of the repository; the released ones form the set
// that is tagged and checked.
type set struct {
	repo    string
	modules []*modInfo
}

// released returns the modules that are tagged and released together.
func (s *set) released() []*modInfo {
	var out []*modInfo
	for _, m := range s.modules {
		if m.released {
			out = append(out, m)
		}
	}
	return out
}

func loadSet(repo string) (*set, error) {
	out, err := exec.Command("git", "-C", repo, "ls-files", "--", "go.mod", "*/go.mod").Output()
	if err != nil {
		return nil, fmt.Errorf("listing go.mod files: %w", err)
	}
	s := &set{repo: repo}
	for _, name := range strings.Fields(string(out)) {
		dir := filepath.Dir(name)
		data, err := os.ReadFile(filepath.Join(repo, name))
		if err != nil {
			return nil, err
		}
		f, err := modfile.Parse(name, data, nil)
		if err != nil {
			return nil, err
		}
		path := f.Module.Mod.Path
		if want := modulePath(dir); path != want {
			return nil, fmt.Errorf("%s declares module %s; in this repository it must be %s", name, path, want)
		}
		s.modules = append(s.modules, &modInfo{dir: dir, path: path, file: f, released: !excluded(dir)})
	}
	sort.Slice(s.modules, func(i, j int) bool { return s.modules[i].dir < s.modules[j].dir })
	return s, nil
}

func excluded(dir string) bool {
	for _, x := range notReleased {
		if dir == x || strings.HasPrefix(dir, x+"/") {
			return true
		}
	}
	return false
}

func modulePath(dir string) string {
	if dir == "." {
		return root
	}
	return root + "/" + filepath.ToSlash(dir)
}

// member returns the released module with the given path, or nil.
func (s *set) member(path string) *modInfo {
	for _, m := range s.released() {
		if m.path == path {
			return m
		}
	}
	return nil
}

// version returns the one version at which the modules require their
// siblings. It is an error for two requirements to disagree.
func (s *set) version() (string, error) {
	found := map[string][]string{}
	for _, m := range s.modules {
		for _, r := range m.file.Require {
			if s.member(r.Mod.Path) != nil {
				found[r.Mod.Version] = append(found[r.Mod.Version], m.dir+" → "+r.Mod.Path)
			}
		}
	}
	if len(found) != 1 {
		var b strings.Builder
		for v, where := range found {
			fmt.Fprintf(&b, "\n  %s: %s", v, strings.Join(where, ", "))
		}
		return "", fmt.Errorf("the modules must require their siblings at one version; found %d:%s", len(found), b.String())
	}
	for v := range found {
		if !semver.IsValid(v) || module.IsPseudoVersion(v) {
			return "", fmt.Errorf("siblings are required at %s, which is not a release version", v)
		}
		return v, nil
	}
	panic("unreachable")
}

// bumped returns m's go.mod with every sibling required at v.
func (s *set) bumped(m *modInfo, v string) ([]byte, error) {
	f, err := modfile.Parse(m.dir+"/go.mod", mustFormat(m.file), nil)
	if err != nil {
		return nil, err
	}
	for _, r := range f.Require {
		if s.member(r.Mod.Path) != nil {
			if err := f.AddRequire(r.Mod.Path, v); err != nil {
				return nil, err
			}
		}
	}
	f.Cleanup()
	return modfile.Format(f.Syntax), nil
}

func mustFormat(f *modfile.File) []byte { return modfile.Format(f.Syntax) }

// bump rewrites every module's go.mod to require its siblings at v.
func (s *set) bump(v string) error {
	if !semver.IsValid(v) || v != semver.Canonical(v) {
		return fmt.Errorf("%q is not a canonical semantic version such as v0.2.0", v)
	}
	for _, m := range s.modules {
		data, err := s.bumped(m, v)
		if err != nil {
			return err
		}
		name := filepath.Join(s.repo, m.dir, "go.mod")
		old, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		if !bytes.Equal(old, data) {
			if err := os.WriteFile(name, data, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// tags returns the tags that release the set at v.
func (s *set) tags(v string) []string {
	var tags []string
	for _, m := range s.released() {
		if m.dir == "." {
			tags = append(tags, v)
		} else {
			tags = append(tags, m.dir+"/"+v)
		}
	}
	return tags
}
