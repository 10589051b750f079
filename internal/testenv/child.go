package testenv

import (
	"os"
	"os/exec"
	"testing"
)

const childVar = "BULWARK_TEST_CHILD"

// Main is a TestMain for packages whose fault tests run parts of themselves
// as child processes (a relay or orchestrator killed with SIGKILL, say). When
// the process was started by StartChild, Main runs the named child function
// and exits with status 0 when it returns; otherwise it runs the tests.
//
//	func TestMain(m *testing.M) {
//		testenv.Main(m, map[string]func(){"relay": runRelay})
//	}
func Main(m *testing.M, children map[string]func()) {
	if name := os.Getenv(childVar); name != "" {
		run, ok := children[name]
		if !ok {
			os.Stderr.WriteString("testenv: unknown child " + name + "\n")
			os.Exit(2)
		}
		run()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Command returns a command that runs the named child of this test binary
// (see Main) with the extra environment env ("KEY=value"). The child's
// output goes to the test's stderr. The caller starts, kills and waits for it.
func Command(t testing.TB, name string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("testenv: finding the test binary: %v", err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childVar+"="+name), env...)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	return cmd
}
