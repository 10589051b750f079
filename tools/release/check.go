package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
)

// coreDependencies are the only modules the core may require directly.
var coreDependencies = []string{
	"github.com/cenkalti/backoff/v4",
	"github.com/google/uuid",
	"github.com/stretchr/testify",
	"golang.org/x/sync",
}

// programs holds one small program per module of the set, in a directory
// named after the module's directory ("." is core, "/" becomes "_"). The
// first line of main.go says whether check runs it ("// release-check: run")
// or only builds it ("// release-check: build", for programs that need a
// server).
const programs = "tools/release/testdata/programs"

func check(s *set, v string) error {
	if v == "" {
		var err error
		if v, err = s.version(); err != nil {
			return err
		}
	} else if _, err := s.version(); err != nil {
		return err
	}
	if err := checkCoreRequires(s); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "bulwark-release-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	proxy := filepath.Join(work, "proxy")
	if err := s.publishSet(proxy, v); err != nil {
		return err
	}
	env, err := freshUser(proxy)
	if err != nil {
		return err
	}
	defer forgetSet(env)
	fmt.Printf("release check of %d modules at %s (proxy %s)\n", len(s.released()), v, proxy)
	for _, m := range s.released() {
		start := time.Now()
		what, err := s.install(work, env, m, v)
		if err != nil {
			return fmt.Errorf("%s@%s: %w", m.path, v, err)
		}
		fmt.Printf("ok   %-55s %s (%.1fs)\n", m.path+"@"+v, what, time.Since(start).Seconds())
	}
	return nil
}

// checkCoreRequires fails when the core requires a module it may not.
func checkCoreRequires(s *set) error {
	core := s.member(root)
	if core == nil {
		return fmt.Errorf("the set has no core module %s", root)
	}
	for _, r := range core.file.Require {
		if !r.Indirect && !contains(coreDependencies, r.Mod.Path) {
			return fmt.Errorf("the core requires %s; it may require only %s", r.Mod.Path, strings.Join(coreDependencies, ", "))
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// publish writes m at v into the file module proxy at dir: its zip of the
// files git tracks (nested modules left out), its go.mod bumped to v, its
// info and list.
func (s *set) publish(dir string, m *modInfo, v string) error {
	files, err := s.trackedFiles(m)
	if err != nil {
		return err
	}
	gomod, err := s.bumped(m, v)
	if err != nil {
		return err
	}
	hasLicense := false
	for i, f := range files {
		switch f.rel {
		case "LICENSE":
			hasLicense = true
		case "go.mod":
			files[i].data = gomod
		}
	}
	if !hasLicense {
		return fmt.Errorf("no LICENSE file in the module's directory: its zip would carry no license and pkg.go.dev would show no documentation")
	}
	escaped, err := module.EscapePath(m.path)
	if err != nil {
		return err
	}
	at := filepath.Join(dir, escaped, "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		return err
	}
	zf, err := os.Create(filepath.Join(at, v+".zip"))
	if err != nil {
		return err
	}
	zfiles := make([]zip.File, len(files))
	for i := range files {
		zfiles[i] = files[i]
	}
	if err := zip.Create(zf, module.Version{Path: m.path, Version: v}, zfiles); err != nil {
		zf.Close()
		return err
	}
	if err := zf.Close(); err != nil {
		return err
	}
	info, _ := json.Marshal(map[string]any{"Version": v, "Time": time.Now().UTC().Format(time.RFC3339)})
	for name, data := range map[string][]byte{v + ".mod": gomod, v + ".info": info, "list": []byte(v + "\n")} {
		if err := os.WriteFile(filepath.Join(at, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// trackedFile is a file of a module's zip.
type trackedFile struct {
	abs, rel string
	data     []byte // replaces the file's content when set
}

func (f trackedFile) Path() string { return f.rel }
func (f trackedFile) Lstat() (fs.FileInfo, error) {
	return os.Lstat(f.abs)
}
func (f trackedFile) Open() (io.ReadCloser, error) {
	if f.data != nil {
		return io.NopCloser(bytes.NewReader(f.data)), nil
	}
	return os.Open(f.abs)
}

// trackedFiles lists the files git tracks in m's directory, leaving out
// those of modules nested below it.
func (s *set) trackedFiles(m *modInfo) ([]trackedFile, error) {
	out, err := exec.Command("git", "-C", s.repo, "ls-files", "-z", "--", m.dir).Output()
	if err != nil {
		return nil, err
	}
	nested, err := exec.Command("git", "-C", s.repo, "ls-files", "--", "*/go.mod").Output()
	if err != nil {
		return nil, err
	}
	var inner []string
	for _, name := range strings.Fields(string(nested)) {
		d := filepath.Dir(name)
		if d != m.dir && (m.dir == "." || strings.HasPrefix(d, m.dir+"/")) {
			inner = append(inner, d+"/")
		}
	}
	var files []trackedFile
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if name == "" || hasAnyPrefix(name, inner) {
			continue
		}
		rel := name
		if m.dir != "." {
			rel = strings.TrimPrefix(name, m.dir+"/")
		}
		files = append(files, trackedFile{abs: filepath.Join(s.repo, name), rel: rel})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].rel < files[j].rel })
	return files, nil
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// userEnv is the environment of a user outside the repository whose module
// proxy serves the candidate release first.
func userEnv(proxy string) ([]string, error) {
	out, err := exec.Command("go", "env", "GOPROXY").Output()
	if err != nil {
		return nil, err
	}
	upstream := strings.TrimSpace(string(out))
	var env []string
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "GOWORK", "GOPROXY", "GONOSUMDB", "GONOSUMCHECK", "GOFLAGS", "GOPRIVATE", "GONOPROXY", "GODEBUG":
			continue
		}
		env = append(env, kv)
	}
	// The go command indexes the packages of a module version in its build
	// cache, taking a version's files never to change; a candidate checked
	// again under the same version has changed, so the index is off.
	return append(env,
		"GODEBUG=goindex=0",
		"GOWORK=off",
		"GOFLAGS=-mod=mod",
		"GOPROXY=file://"+filepath.ToSlash(proxy)+","+upstream,
		"GONOSUMDB=github.com/bulwark-go",
	), nil
}

// publishSet writes every released module of s at v into the file module
// proxy at dir.
func (s *set) publishSet(dir, v string) error {
	for _, m := range s.released() {
		if err := s.publish(dir, m, v); err != nil {
			return fmt.Errorf("%s at %s: %w", m.dir, v, err)
		}
	}
	return nil
}

// freshUser returns userEnv(proxy) with the set's modules removed from the
// module cache, so that what the proxy serves is fetched anew; call
// forgetSet(env) when done.
func freshUser(proxy string) ([]string, error) {
	env, err := userEnv(proxy)
	if err != nil {
		return nil, err
	}
	if err := forgetSet(env); err != nil {
		return nil, err
	}
	return env, nil
}

// forgetSet removes the set's modules from the module cache, so that a
// candidate checked before under the same version is fetched anew.
func forgetSet(env []string) error {
	cmd := exec.Command("go", "env", "GOMODCACHE")
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		return err
	}
	cache := strings.TrimSpace(string(out))
	for _, d := range []string{filepath.Join(cache, "github.com", "bulwark-go"), filepath.Join(cache, "cache", "download", "github.com", "bulwark-go")} {
		_ = filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				_ = os.Chmod(p, 0o755)
			}
			return nil
		})
		if err := os.RemoveAll(d); err != nil {
			return err
		}
	}
	return nil
}

// install makes a fresh module that uses m at v, as a user would: go get,
// go mod tidy, build, and run the program when it runs on embedded
// defaults. It then checks the module graph.
func (s *set) install(work string, env []string, m *modInfo, v string) (string, error) {
	name := strings.ReplaceAll(m.dir, "/", "_")
	if m.dir == "." {
		name = "core"
	}
	src, err := os.ReadFile(filepath.Join(s.repo, programs, name, "main.go"))
	if err != nil {
		return "", fmt.Errorf("no program for this module in %s/%s: %w", programs, name, err)
	}
	dir := filepath.Join(work, "user", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644); err != nil {
		return "", err
	}
	goCmd := func(timeout time.Duration, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return string(out), fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return string(out), nil
	}
	steps := [][]string{
		{"go", "mod", "init", "example.com/user/" + name},
		{"go", "get", m.path + "@" + v},
		{"go", "mod", "tidy"},
		{"go", "build", "-o", "program", "."},
		{"go", "build", m.path + "/..."},
	}
	for _, step := range steps {
		if _, err := goCmd(10*time.Minute, step...); err != nil {
			return "", err
		}
	}
	if err := s.checkGraph(goCmd, m, v); err != nil {
		return "", err
	}
	if !bytes.HasPrefix(src, []byte("// release-check: run")) {
		return "built", nil
	}
	out, err := goCmd(2*time.Minute, "./program")
	if err != nil {
		return "", err
	}
	return "built and ran: " + lastLine(out), nil
}

// checkGraph fails when the user's module graph holds a module of the set
// at a version other than v, or, for the core, anything the core does not
// require itself.
func (s *set) checkGraph(goCmd func(time.Duration, ...string) (string, error), m *modInfo, v string) error {
	out, err := goCmd(5*time.Minute, "go", "list", "-m", "-f", "{{.Path}} {{.Version}}", "all")
	if err != nil {
		return err
	}
	core := s.member(root)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue // the user's own module
		}
		path, version := f[0], f[1]
		if s.member(path) != nil && version != v {
			return fmt.Errorf("the module graph has %s at %s, not %s: a sibling is required at the wrong version", path, version, v)
		}
		if m == core && path != root && !requires(core, path) {
			return fmt.Errorf("a user of the core alone gets %s %s in their module graph", path, version)
		}
	}
	return nil
}

func requires(m *modInfo, path string) bool {
	for _, r := range m.file.Require {
		if r.Mod.Path == path {
			return true
		}
	}
	return false
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
