// Command release keeps bulwark's modules releasable as one set and checks
// that a release installs the way a user installs it.
//
// The modules of the set (the core and each adapter module) are released
// together at one version, with tags vX.Y.Z for the core and <dir>/vX.Y.Z
// for the others (adapters/postgres/v0.2.0). Every module of the
// repository, released or not (examples, benchmarks, tests, tools),
// requires its released siblings at that version; its replace lines point
// them at their directories, so the repository builds from its own tree
// with or without the workspace, while a user's build, which ignores a
// dependency's replace lines, fetches the released versions. Run it from
// the repository's root:
//
//	go run ./tools/release modules        # every module, one line each: dir, module path, released or not
//	go run ./tools/release version        # the version the set requires itself at
//	go run ./tools/release bump v0.2.0    # require every sibling at v0.2.0, print the tags
//	go run ./tools/release check [v0.2.0] # install the set at that version, as a user would
//	go run ./tools/release api            # compare each module's API with the latest release (gorelease)
//
// check builds each module's zip from the files git tracks, with its go.mod
// bumped to the candidate version, serves the zips as a file module proxy
// in front of the usual one, and, in a fresh module outside the repository
// with GOWORK=off, runs `go get` of each module at that version and builds
// and runs a small program using it (testdata/programs), then builds every
// package of the module as a dependency. It fails when a module lacks its
// LICENSE, when any module resolves a sibling at another version (a
// pseudo-version, say), or when the core's module graph holds anything but
// the core's own dependencies.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: release modules | version | bump VERSION | check [VERSION] | api")
	}
	set, err := loadSet(".")
	if err != nil {
		return err
	}
	switch cmd := args[0]; {
	case cmd == "modules" && len(args) == 1:
		for _, m := range set.modules {
			state := "released"
			if !m.released {
				state = "not released"
			}
			fmt.Printf("%s\t%s\t%s\n", m.dir, m.path, state)
		}
		return nil
	case cmd == "version" && len(args) == 1:
		v, err := set.version()
		if err != nil {
			return err
		}
		fmt.Println(v)
		return nil
	case cmd == "bump" && len(args) == 2:
		if err := set.bump(args[1]); err != nil {
			return err
		}
		fmt.Println("every module now requires its siblings at", args[1]+"; after committing, push these tags:")
		for _, t := range set.tags(args[1]) {
			fmt.Println(" ", t)
		}
		return nil
	case cmd == "api" && len(args) == 1:
		return api(set)
	case cmd == "check" && len(args) <= 2:
		v := ""
		if len(args) == 2 {
			v = args[1]
		}
		return check(set, v)
	}
	return fmt.Errorf("unknown command %q", args)
}
