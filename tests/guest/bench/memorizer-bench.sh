#!/bin/sh
# memorizer-bench.sh [ROUNDS]: Memorizer's cost on a fixed workload.
#
# Runs memorizer-bench (fork/exec loop, file create/read/delete, pipe
# ping-pong; see memorizer-bench.c) on this boot three times: tracking off,
# tracking on, tracking on with access logging, and prints each workload's
# time, the slowdown of each mode over "off", and the metadata it took:
# bytes per object record and per access record, and how many of each the
# workload created.  Run as root in the Memorizer guest; for an "off" that
# has never tracked anything, boot with memorizer_enabled_boot=no.
#
# Not part of make test: timings under TCG vary from run to run.
set -eu

M=/sys/kernel/debug/memorizer
BENCH=${MEMORIZER_BENCH:-/usr/bin/memorizer-bench}
ROUNDS=${1:-100}

die() { echo "memorizer-bench.sh: $*" >&2; exit 1; }
[ -r "$M/stats" ] || die "$M/stats not readable (not a Memorizer kernel, or not root?)"
[ -x "$BENCH" ] || die "$BENCH not found (vm/mkinitramfs.sh builds it from memorizer-bench.c)"

stat() { awk -v key="$1:" '$1 == key { print $2 }' "$M/stats"; }

# mode NAME TRACKING LOGGING: one timed run in that mode
mode() {
	echo 0 >"$M/memorizer_enabled"
	echo "$3" >"$M/memorizer_log_access"
	echo 1 >"$M/clear_dead_objs"
	objects0=$(stat objects_allocated)
	accesses0=$(stat access_records_created)
	echo "$2" >"$M/memorizer_enabled"
	"$BENCH" "$ROUNDS" >"/tmp/memorizer-bench.$1"
	echo 0 >"$M/memorizer_enabled"
	echo 0 >"$M/memorizer_log_access"
	echo "objects $(( $(stat objects_allocated) - objects0 ))" >>"/tmp/memorizer-bench.$1"
	echo "access_records $(( $(stat access_records_created) - accesses0 ))" >>"/tmp/memorizer-bench.$1"
	echo 1 >"$M/clear_dead_objs"
}

was_enabled=$(cat "$M/memorizer_enabled")
was_logging=$(cat "$M/memorizer_log_access")
"$BENCH" 5 >/dev/null	# warm the page cache
mode off 0 0
mode on 1 0
mode access 1 1
echo "$was_logging" >"$M/memorizer_log_access"
echo "$was_enabled" >"$M/memorizer_enabled"

echo "memorizer-bench: $ROUNDS rounds, $(nproc) CPUs, $(uname -r)"
awk '
FILENAME ~ /off$/ { t_off[$1] = $2 }
FILENAME ~ /on$/ { t_on[$1] = $2 }
FILENAME ~ /access$/ { t_acc[$1] = $2; order[++n] = $1 }
END {
	order[++n] = "total"
	for (i = 1; i < n; i++) {
		w = order[i]
		if (w != "objects" && w != "access_records") {
			t_off["total"] += t_off[w]
			t_on["total"] += t_on[w]
			t_acc["total"] += t_acc[w]
		}
	}
	printf "%-14s %10s %10s %10s %9s %9s\n", "workload", "off(s)", "on(s)", "on+acc(s)", "on/off", "acc/off"
	for (i = 1; i <= n; i++) {
		w = order[i]
		if (w == "objects" || w == "access_records" || t_off[w] <= 0)
			continue
		printf "%-14s %10.3f %10.3f %10.3f %8.2fx %8.2fx\n", w, t_off[w], t_on[w], t_acc[w], t_on[w] / t_off[w], t_acc[w] / t_off[w]
	}
	printf "objects recorded: on %d, on+acc %d; access records: on+acc %d\n", t_on["objects"], t_acc["objects"], t_acc["access_records"]
}' /tmp/memorizer-bench.off /tmp/memorizer-bench.on /tmp/memorizer-bench.access
echo "metadata: $(stat object_record_bytes) bytes per object record," \
	"$(stat access_record_bytes) bytes per access record"
