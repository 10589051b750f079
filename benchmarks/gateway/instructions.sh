#!/usr/bin/env bash
# Counts the instructions each implementation of BenchmarkProxy executes
# per request, with valgrind's callgrind: a count that, unlike requests/s,
# does not move with the other work on a shared machine.
#
#   benchmarks/gateway/instructions.sh                  # every impl, 1 and 64 clients
#   N=1000 CLIENTS="64" REPS=2 benchmarks/gateway/instructions.sh bulwark httputil
#
# For each implementation, number of clients and repetition it runs the
# compiled benchmark binary under callgrind twice, with -test.benchtime
# N x and 2N x (exactly N and 2N timed requests after the same setup), and
# prints (I(2N) - I(N)) / N: the instructions of one request, the
# setup, the warm-up requests and the process's start and exit cancelled
# out. The count covers the whole process: the clients, the proxy and the
# upstream, as the requests/s of the benchmark does on the same cores, so
# the ratio of two implementations' counts is the inverse of their
# throughput ratio when the CPU is the bottleneck.
#
# The binary is built with CGO_ENABLED=0 and run with GOGC=100 and
# GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off: valgrind 3.19 cannot run the
# RDTSCP instruction, and callgrind asserts on the signals of asynchronous
# preemption (and on cgo's thread start). GOMAXPROCS is PROCS, 1 by
# default: with 2, the scheduler's idle Ps spin looking for work (lock2,
# findRunnable, stealWork) for as long as valgrind's thread switches take,
# and the same run counted 340k and 437k instructions per request; with 1
# the repetitions agree within 0.4-4%. Each count includes the garbage
# collector's share, at GOGC=100. The callgrind files are kept in OUT
# (default /tmp/gateway-instructions) for callgrind_annotate (use its
# exclusive costs: inclusive ones are meaningless across goroutine stack
# switches).
#
# At the end it prints, from the mean of the repetitions, the throughput
# ratios the gateway's targets are about: httputil/bulwark (the gateway
# against a bare ReverseProxy) and bulwark/bulwark-jwt-limit (the gateway
# with RS256 tokens and per-subject limits against the plain gateway),
# and the others against httputil.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-1000}
CLIENTS=${CLIENTS:-1 64}
REPS=${REPS:-2}
PROCS=${PROCS:-1}
OUT=${OUT:-/tmp/gateway-instructions}
impls=("$@")
[[ ${#impls[@]} -eq 0 ]] && impls=(httputil bulwark bulwark-jwt-limit lura none)

mkdir -p "$OUT"
CGO_ENABLED=0 GOWORK=off go test -c -o "$OUT/gateway.test" ./gateway

# count runs the benchmark of impl at clients for n requests and prints the
# instructions callgrind counted.
count() {
	local impl=$1 clients=$2 n=$3 rep=$4
	local f="$OUT/$impl-c$clients-n$n-r$rep.cg"
	GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off GOMAXPROCS=$PROCS GOGC=100 \
		valgrind --tool=callgrind --callgrind-out-file="$f" \
		"$OUT/gateway.test" -test.run '^$' -test.benchtime "${n}x" \
		-test.bench "^BenchmarkProxy\$/^clients=$clients\$/^impl=$impl\$" >"$f.log" 2>&1 ||
		{ cat "$f.log" >&2; return 1; }
	grep -Eq "^BenchmarkProxy/clients=$clients/impl=$impl(-[0-9]+)?[[:space:]]" "$f.log" || { echo "no benchmark ran: $f.log" >&2; return 1; }
	sed -n 's/^summary: *//p' "$f"
}

echo "valgrind $(valgrind --version | sed 's/^valgrind-//'), $(go version | cut -d' ' -f3), N=$N, GOMAXPROCS=$PROCS, GOGC=100"
printf '%-18s %7s %4s %15s %15s %12s\n' impl clients rep "I(N)" "I(2N)" "instr/req"
rows=$OUT/rows.txt
: >"$rows"
for clients in $CLIENTS; do
	for rep in $(seq "$REPS"); do
		for impl in "${impls[@]}"; do
			a=$(count "$impl" "$clients" "$N" "$rep")
			b=$(count "$impl" "$clients" "$((2 * N))" "$rep")
			printf '%-18s %7d %4d %15d %15d %12d\n' "$impl" "$clients" "$rep" "$a" "$b" "$(((b - a) / N))" | tee -a "$rows"
		done
	done
done
echo
echo "throughput ratios (the inverse of the instructions per request, mean of $REPS):"
awk '
	{ sum[$1 " " $2] += $6; n[$1 " " $2]++; if (!($2 in seen)) { seen[$2] = 1; cl[++ncl] = $2 } }
	function m(i, c) { return (i " " c) in n ? sum[i " " c] / n[i " " c] : 0 }
	function ratio(name, num, den, c) {
		if (m(num, c) > 0 && m(den, c) > 0)
			printf "  clients=%-3s %-34s %6.1f%%  (%d / %d instructions)\n", c, name, 100 * m(num, c) / m(den, c), m(num, c), m(den, c)
	}
	END {
		for (k = 1; k <= ncl; k++) {
			c = cl[k]
			ratio("bulwark / httputil", "httputil", "bulwark", c)
			ratio("bulwark-jwt-limit / bulwark", "bulwark", "bulwark-jwt-limit", c)
			ratio("bulwark-jwt-limit / httputil", "httputil", "bulwark-jwt-limit", c)
			ratio("lura / httputil", "httputil", "lura", c)
			ratio("lura / bulwark", "bulwark", "lura", c)
		}
	}' "$rows"
