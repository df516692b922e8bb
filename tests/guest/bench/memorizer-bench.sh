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
# lowest and highest) and the slowdowns of the medians.  Then, REPEATS
# times in alternating order, the export of the same traced workload's
# objects (freed and live) with tracking off, so that the export itself
# is not traced: the kmap read with print_live_obj 1, and the stream
# copied by memorizer-stream (held back during the workload with buffers
# that hold it all); objects and MB per CPU second of the exporting
# process (cat's, or the reader's own figure).
# Run as root in the Memorizer guest booted with memorizer_enabled_boot=no.
# Not part of make test: timings under TCG vary from run to run.
set -eu

M=/sys/kernel/debug/memorizer
S=$M/stream
BENCH=${MEMORIZER_BENCH:-/usr/bin/memorizer-bench}
ROUNDS=${1:-25}
REPEATS=${2:-5}
OUT=${MEMORIZER_BENCH_DIR:-/tmp/memorizer-bench}
# Where the export goes: /dev/null measures getting the records out of
# the kernel, not the filesystem behind it (tmpfs under KASAN and TCG
# writes about 4 MB per CPU second; the two paths pay it alike).
EXPORT_TO=${MEMORIZER_BENCH_EXPORT_TO:-/dev/null}
MODES=(off on access stream)

die() { echo "memorizer-bench.sh: $*" >&2; exit 1; }
[ -r "$M/stats" ] || die "$M/stats not readable (not a Memorizer kernel, or not root?)"
[ -x "$BENCH" ] || die "$BENCH not found (vm/mkinitramfs.sh builds it from memorizer-bench.c)"
command -v memorizer-stream >/dev/null || die "memorizer-stream not found"

stat() { awk -v key="$1:" '$1 == key { print $2 }' "$M/stats"; }
# total FILE: the sum of memorizer-bench's workload times
total() { awk '{ t += $2 } END { printf "%.3f\n", t }' "$1"; }
TIMEFORMAT='%R %U %S'

# start_reader OUT SUMMARY: memorizer-stream in the background ($reader:
# the reader itself, since a subshell around it would ignore SIGINT, as
# asynchronous commands do), once streaming is on
start_reader() {
	local t
	memorizer-stream -o "$1" 2>"$2" &
	reader=$!
	for t in $(seq 100); do
		[ "$(cat $S/enabled)" = 1 ] && break
		sleep 0.1
	done
}

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
		start_reader "$OUT/stream.mzs" "$OUT/stream.summary"
	fi
	[ "$mode" = off ] || echo 1 >$M/memorizer_enabled
	"$BENCH" "$ROUNDS" >"$OUT/run.$mode.$rep"
	echo 0 >$M/memorizer_enabled
	echo "$mode $(total "$OUT/run.$mode.$rep")" >>"$OUT/times"
	if [ "$mode" = stream ]; then
		kill -INT "$reader"
		wait "$reader"
		grep -q 'Total:.*dropped 0 objects, 0 live, 0 entries' "$OUT/stream.summary" ||
			echo "warning: the stream dropped records (rep $rep)" >&2
		rm -f "$OUT/stream.mzs"
	fi
	echo 0 >$M/memorizer_log_access
	echo 1 >$M/clear_dead_objs
}

# export KIND REP: the workload traced (tracking and access logging on),
# then, with tracking off so that the export is not traced itself, its
# objects, freed and live, exported: "kmap" reads the kmap with
# print_live_obj 1; "stream" lets a reader that was held back (SIGSTOP,
# with buffers that hold the whole run) copy the stream and the live
# objects written at the stop.  Appends "KIND objects bytes cpu_seconds".
export_run() {
	local kind=$1 rep=$2 reader
	echo 0 >$M/memorizer_enabled
	echo 1 >$M/clear_dead_objs
	if [ "$kind" = stream ]; then
		echo 1048576 >$S/subbuf_size
		echo 64 >$S/subbufs
		start_reader "$EXPORT_TO" "$OUT/export.summary"
		kill -STOP "$reader"
	fi
	echo 1 >$M/memorizer_log_access
	echo 1 >$M/memorizer_enabled
	"$BENCH" "$ROUNDS" >/dev/null
	echo 0 >$M/memorizer_enabled
	echo 0 >$M/memorizer_log_access
	if [ "$kind" = kmap ]; then
		echo 1 >$M/print_live_obj
		{ time cat $M/kmap >"$EXPORT_TO"; } 2>"$OUT/export.time"
		# Counted from a second read: the first one's costs alone.
		cat $M/kmap >"$OUT/export.kmap"
		echo 0 >$M/print_live_obj
		awk -v bytes="$(wc -c <"$OUT/export.kmap")" -v objects="$(grep -c '^[0-9a-f]' "$OUT/export.kmap")" \
			'{ printf "kmap %d %d %.3f\n", objects, bytes, $2 + $3 }' "$OUT/export.time" >>"$OUT/export"
		rm -f "$OUT/export.kmap"
	else
		kill -CONT "$reader"
		kill -INT "$reader"
		wait "$reader"
		# "Total: N records, X objects, L live, K LOST, B bytes, ..." and
		# "CPU time: S s copying, ..."
		awk '$1 == "Total:" { gsub(/,/, ""); objects = $4 + $6; bytes = $10 }
			$1 == "CPU" && $2 == "time:" { cpu = $3 }
			END { printf "stream %d %d %s\n", objects, bytes, cpu }' \
			"$OUT/export.summary" >>"$OUT/export"
		grep -q 'Total:.*dropped 0 objects, 0 live, 0 entries' "$OUT/export.summary" ||
			echo "warning: the export stream dropped records (rep $rep)" >&2
		[ "$EXPORT_TO" = /dev/null ] || rm -f "$EXPORT_TO"
		echo 262144 >$S/subbuf_size
		echo 16 >$S/subbufs
	fi
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
for rep in $(seq 0 $((REPEATS - 1))); do
	if [ $((rep % 2)) = 0 ]; then
		export_run kmap "$rep"
		export_run stream "$rep"
	else
		export_run stream "$rep"
		export_run kmap "$rep"
	fi
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
	# kind objects bytes cpu_seconds: rates per CPU second
	if ($4 > 0) { ops[$1] = ops[$1] " " $2 / $4; mbs[$1] = mbs[$1] " " $3 / $4 / 1e6 }
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
