package consume

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// childEnv, when set in the environment, makes the test binary run a
// nats-server with JetStream storing in the directory it names, instead of
// the benchmarks: see natsURL.
const childEnv = "BULWARK_BENCH_NATS_STORE"

// child is the nats-server process the benchmarks share.
var child struct {
	once  sync.Once
	url   string
	err   error
	cmd   *exec.Cmd
	stdin io.WriteCloser
	dir   string
}

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		serveNATS(dir)
		return
	}
	code := m.Run()
	stopNATS()
	os.Exit(code)
}

// natsURL returns the URL of an embedded nats-server with JetStream, started
// on first use. The server is nats-server as a library (nothing to
// install), run in a child process of this test binary rather than inside
// it, so that the CPU profile and the allocations per message count the
// consumers only, not the broker (which does the same work for each of
// them).
func natsURL(tb testing.TB) string {
	tb.Helper()
	child.once.Do(func() { child.url, child.err = startNATS() })
	if child.err != nil {
		tb.Fatal(child.err)
	}
	return child.url
}

func startNATS() (string, error) {
	dir, err := os.MkdirTemp("", "bulwark-bench-nats-")
	if err != nil {
		return "", err
	}
	child.dir = dir
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if child.stdin, err = cmd.StdinPipe(); err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting the nats-server process: %w", err)
	}
	child.cmd = cmd
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("reading the nats-server process's URL: %w", err)
	}
	return strings.TrimSpace(line), nil
}

// serverCPU returns the CPU time the nats-server process has used so far
// (user and system, at the kernel's clock-tick resolution).
func serverCPU(tb testing.TB) time.Duration {
	tb.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child.cmd.Process.Pid))
	if err != nil {
		tb.Fatal(err)
	}
	// The fields after the command's name (in parentheses): state is the
	// 3rd field of the line, utime and stime the 14th and 15th.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		tb.Fatalf("reading the nats-server's CPU time: %v %v", err1, err2)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's times:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// processCPU returns the CPU time this process has used so far.
func processCPU(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func stopNATS() {
	if child.cmd != nil {
		_ = child.stdin.Close() // the child shuts its server down at EOF
		_ = child.cmd.Wait()
	}
	if child.dir != "" {
		_ = os.RemoveAll(child.dir)
	}
}

// serveNATS runs in the child: it starts the server, prints its URL and
// serves until its standard input ends (the parent closed it, or died).
func serveNATS(dir string) {
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "nats-server:", err)
		os.Exit(1)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		fmt.Fprintln(os.Stderr, "nats-server: not ready within 10s")
		os.Exit(1)
	}
	fmt.Println(s.ClientURL())
	_, _ = io.Copy(io.Discard, os.Stdin)
	s.Shutdown()
	s.WaitForShutdown()
}
