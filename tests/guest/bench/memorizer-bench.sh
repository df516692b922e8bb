#!/bin/bash
# memorizer-bench.sh [ROUNDS [REPEATS]]: Memorizer's cost on a fixed
# workload, and what exporting its records costs through the kmap and
# through the stream.
#
# Runs memorizer-bench (fork/exec loop, file create/read/delete, pipe
# ping-pong; see memorizer-bench.c) in four modes on this boot:
#   off      tracking off
#   on       tracking on
#   access   tracking and access logging on, objects kept for the kmap
#   stream   tracking and access logging on, streaming to memorizer-stream
# REPEATS times (default 5) each, the modes alternating in a rotating
# order so that drift of the host (TCG shares it) spreads over all modes,
# and prints for each mode the median workload time and the spread (the
# lowest and highest), the slowdowns of the medians, and the export:
#   kmap     after an "access" run, `cat kmap`: objects and MB per second
#            of the reading process's CPU time (the kernel formats the text)
#   stream   memorizer-stream's CPU time copying the objects of a
#            "stream" run (its summary's figure; the kernel writes the
#            records during the workload: that cost is in the
#            stream/access slowdown)
# Run as root in the Memorizer guest booted with memorizer_enabled_boot=no.
# Not part of make test: timings under TCG vary from run to run.
set -eu

M=/sys/kernel/debug/memorizer
S=$M/stream
BENCH=${MEMORIZER_BENCH:-/usr/bin/memorizer-bench}
ROUNDS=${1:-25}
REPEATS=${2:-5}
OUT=${MEMORIZER_BENCH_DIR:-/tmp/memorizer-bench}
MODES=(off on access stream)

die() { echo "memorizer-bench.sh: $*" >&2; exit 1; }
[ -r "$M/stats" ] || die "$M/stats not readable (not a Memorizer kernel, or not root?)"
[ -x "$BENCH" ] || die "$BENCH not found (vm/mkinitramfs.sh builds it from memorizer-bench.c)"
command -v memorizer-stream >/dev/null || die "memorizer-stream not found"

stat() { awk -v key="$1:" '$1 == key { print $2 }' "$M/stats"; }
# total FILE: the sum of memorizer-bench's workload times
total() { awk '{ t += $2 } END { printf "%.3f\n", t }' "$1"; }
TIMEFORMAT='%R %U %S'

# run MODE REP: one timed run; appends "MODE seconds" to $OUT/times and
# the export figures to $OUT/export
run() {
	local mode=$1 rep=$2 objects t reader
	echo 0 >$M/memorizer_enabled
	echo 0 >$M/memorizer_log_access
	echo 1 >$M/clear_dead_objs
	case $mode in
	access | stream) echo 1 >$M/memorizer_log_access ;;
	esac
	if [ "$mode" = stream ]; then
		# The reader itself in the background (a subshell around it
		# would ignore SIGINT, as asynchronous commands do).
		memorizer-stream -o "$OUT/stream.mzs" 2>"$OUT/stream.summary" &
		reader=$!
		for t in $(seq 100); do
			[ "$(cat $S/enabled)" = 1 ] && break
			sleep 0.1
		done
	fi
	[ "$mode" = off ] || echo 1 >$M/memorizer_enabled
	"$BENCH" "$ROUNDS" >"$OUT/run.$mode.$rep"
	echo 0 >$M/memorizer_enabled
	echo "$mode $(total "$OUT/run.$mode.$rep")" >>"$OUT/times"
	case $mode in
	access)
		objects=$(( $(stat objects_freed_not_cleared) ))
		{ time cat $M/kmap >"$OUT/kmap"; } 2>"$OUT/kmap.time"
		echo "kmap $objects $(wc -c <"$OUT/kmap") $(cat "$OUT/kmap.time")" >>"$OUT/export"
		;;
	stream)
		kill -INT "$reader"
		wait "$reader"
		# "Total: N records, X objects, L live, K LOST, B bytes, ..."
		# (X: freed objects) and "CPU time: S s copying, ...": the
		# reader's CPU time, as "real user sys" with user 0.
		awk '$1 == "Total:" { gsub(/,/, ""); objects = $4 + $6; bytes = $10 }
			$1 == "CPU" && $2 == "time:" { cpu = $3 }
			END { printf "stream %d %d %s 0 %s\n", objects, bytes, cpu, cpu }' \
			"$OUT/stream.summary" >>"$OUT/export"
		grep -q 'Total:.*dropped 0 objects, 0 live, 0 entries' "$OUT/stream.summary" ||
			echo "warning: the stream dropped records (rep $rep)" >&2
		rm -f "$OUT/stream.mzs"
		;;
	esac
	echo 0 >$M/memorizer_log_access
	echo 1 >$M/clear_dead_objs
}

was_enabled=$(cat $M/memorizer_enabled)
was_logging=$(cat $M/memorizer_log_access)
rm -rf "$OUT"
mkdir -p "$OUT"
"$BENCH" 5 >/dev/null	# warm the page cache
for rep in $(seq 0 $((REPEATS - 1))); do
	for i in 0 1 2 3; do
		run "${MODES[$(( (rep + i) % 4 ))]}" "$rep"
	done
done
echo "$was_logging" >$M/memorizer_log_access
echo "$was_enabled" >$M/memorizer_enabled

echo "memorizer-bench: $ROUNDS rounds, $REPEATS repeats in alternating order, $(nproc) CPUs, $(uname -r)"
awk '
function median(list, n,   i, j, t, a) {
	n = split(list, a, " ")
	for (i = 1; i <= n; i++)
		for (j = i + 1; j <= n; j++)
			if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	lo = a[1]; hi = a[n]
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
FILENAME ~ /times$/ { t[$1] = t[$1] " " $2 }
FILENAME ~ /export$/ {
	# kind objects bytes real user sys: rates per CPU second
	cpu = $5 + $6
	if (cpu > 0) { ops[$1] = ops[$1] " " $2 / cpu; mbs[$1] = mbs[$1] " " $3 / cpu / 1e6 }
	objs[$1] = objs[$1] " " $2
}
END {
	printf "%-8s %10s %20s %8s\n", "mode", "median(s)", "spread (min-max)", "/off"
	split("off on access stream", modes, " ")
	for (i = 1; i <= 4; i++) {
		m = modes[i]; med[m] = median(t[m])
		printf "%-8s %10.3f %9.3f - %-8.3f %7.2fx\n", m, med[m], lo, hi, med[m] / med["off"]
	}
	printf "stream against access (kmap mode): %.3fx\n", med["stream"] / med["access"]
	printf "%-8s %12s %24s %10s %20s\n", "export", "objects/s", "spread", "MB/s", "spread"
	split("kmap stream", kinds, " ")
	for (i = 1; i <= 2; i++) {
		k = kinds[i]; o[k] = median(ops[k]); olo = lo; ohi = hi
		b = median(mbs[k])
		printf "%-8s %12.0f %11.0f - %-11.0f %10.2f %8.2f - %-8.2f (objects per run: median %d)\n", k, o[k], olo, ohi, b, lo, hi, median(objs[k])
	}
	if (o["kmap"] > 0)
		printf "stream export against kmap export: %.1fx the objects per CPU second\n", o["stream"] / o["kmap"]
}' "$OUT/times" "$OUT/export"
echo "metadata: $(stat object_record_bytes) bytes per object record," \
	"$(stat access_record_bytes) bytes per access record"
