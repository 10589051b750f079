#!/usr/bin/env bash
# Prints where one request's instructions go, from two callgrind files of
# instructions.sh for the same implementation, clients and repetition:
# the N-request run and the 2N-request run. Each function's exclusive
# count in the second minus the first, over N, is its share of one
# request; the functions are listed by that share, then summed by
# package.
#
#   benchmarks/gateway/instrdiff.sh OUT/bulwark-jwt-limit-c1-n300-r1.cg OUT/bulwark-jwt-limit-c1-n600-r1.cg 300 [TOP]
set -euo pipefail
a=$1 b=$2 n=$3 top=${4:-25}
per() { # function<TAB>instructions, from a callgrind file's exclusive costs
	callgrind_annotate --auto=no --threshold=100 "$1" 2>/dev/null |
		awk '$1 ~ /^[0-9,]+$/ && $2 ~ /^\(/ && $0 !~ /PROGRAM TOTALS/ {
			c = $1; gsub(",", "", c)
			f = $0; sub(/^ *[0-9,]+ +\([ 0-9.]+%\) +/, "", f); sub(/ \[.*$/, "", f)
			sub(/^[^:]*:/, "", f); sub(/'\''[0-9]+$/, "", f)
			s[f] += c
		} END { for (f in s) print f "\t" s[f] }'
}
LC_ALL=C join -t $'\t' -a 2 -e 0 -o 0,1.2,2.2 <(per "$a" | LC_ALL=C sort) <(per "$b" | LC_ALL=C sort) |
	awk -F '\t' -v n="$n" '{ d = ($3 - $2) / n; if (d != 0) printf "%.0f\t%s\n", d, $1 }' | sort -t $'\t' -k1,1gr >"${TMPDIR:-/tmp}/instrdiff.$$"
total=$(awk -F '\t' '{ t += $1 } END { printf "%d", t }' "${TMPDIR:-/tmp}/instrdiff.$$")
echo "instructions per request: $total"
echo
echo "top $top functions (exclusive instructions per request):"
head -n "$top" "${TMPDIR:-/tmp}/instrdiff.$$" | awk -F '\t' -v t="$total" '{ printf "%10d %5.1f%%  %s\n", $1, 100 * $1 / t, $2 }'
echo
echo "by package:"
awk -F '\t' -v t="$total" '{
	f = $2; p = f
	if (match(f, /^.*\//)) { head = substr(f, 1, RLENGTH); rest = substr(f, RLENGTH + 1) } else { head = ""; rest = f }
	sub(/\..*$/, "", rest); p = head rest
	s[p] += $1
} END { for (p in s) printf "%10d %5.1f%%  %s\n", s[p], 100 * s[p] / t, p }' "${TMPDIR:-/tmp}/instrdiff.$$" | sort -k1,1nr | head -n "$top"
rm "${TMPDIR:-/tmp}/instrdiff.$$"
