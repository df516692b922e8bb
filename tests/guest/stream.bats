#!/usr/bin/env bats
# In-guest tests of Memorizer's stream (Documentation/stream.rst) and its
# reader, memorizer-stream.  Each test that streams leaves its stream file
# and what the kernel counted meanwhile ("NAME.facts", "key value" lines)
# in /tmp/fetch; the host test tests/host/stream.bats reads them with
# capmap and checks the records against the counts exactly.

load memorizer-lib

S=$M/stream
W=/sys/kernel/debug/memorizer_workload

setup_file() {
	insmod /lib/modules-memorizer/memorizer_workload.ko
}

teardown_file() {
	rmmod memorizer_workload
}

setup() {
	saved_enabled=$(cat $M/memorizer_enabled)
	saved_logging=$(cat $M/memorizer_log_access)
	reader=
}

teardown() {
	if [ -n "$reader" ]; then
		kill -CONT "$reader" 2>/dev/null || true
		kill -INT "$reader" 2>/dev/null || true
		wait "$reader" || true
	fi
	[ "$(cat $S/enabled)" = 0 ] || echo 0 >$S/enabled
	echo 262144 >$S/subbuf_size
	echo 16 >$S/subbufs
	echo "$saved_logging" >$M/memorizer_log_access
	echo "$saved_enabled" >$M/memorizer_enabled
}

# get FILE: its first line, with a builtin (a subshell and cat cost a fork)
get() {
	local line
	read -r line <"$1"
	echo "$line"
}

# dropped KIND: since boot, the total of one kind (objects, live or
# entries) in $S/dropped
dropped() {
	awk -v kind="$1" '$1 == "total" {
		for (i = 2; i < NF; i += 2) if ($i == kind) print $(i + 1) }' $S/dropped
}

# wait_for FILE VALUE: until FILE reads VALUE, for at most 10 s
wait_for() {
	local i
	for i in $(seq 100); do
		[ "$(get "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	echo "$1 reads $(get "$1"), not $2"
	return 1
}

# start_reader OUT [OPTIONS]: memorizer-stream in the background, writing
# OUT (its summary to OUT.summary), once streaming is on.
start_reader() {
	local out=$1 i
	shift
	memorizer-stream -o "$out" "$@" 2>"$out.summary" &
	reader=$!
	for i in $(seq 200); do
		[ "$(get $S/enabled)" = 1 ] && return 0
		kill -0 "$reader" 2>/dev/null || break
		sleep 0.1
	done
	cat "$out.summary"
	return 1
}

# stop_reader OUT [SIGNAL]: stop it; it must drain, switch streaming off
# and exit 0.
stop_reader() {
	local out=$1 rc=0
	kill -"${2:-INT}" "$reader"
	wait "$reader" || rc=$?
	reader=
	cat "$out.summary"
	[ "$rc" -eq 0 ]
	[ "$(get $S/enabled)" = 0 ]
	[ -s "$out" ]
	# A stream file starts with a STREAM record: type 2, flags 0, size 136.
	[ "$(head -c 8 "$out" | od -An -tx1 | tr -d ' \n')" = 0200000088000000 ]
}

# facts NAME KEY=VALUE...: what the host test checks NAME's stream against
facts() {
	local name=$1
	shift
	printf '%s\n' "$@" | tr = ' ' >"/tmp/fetch/$name.facts"
}

@test "stream: defaults, and bad control input is refused and changes nothing" {
	# The profile boots with memorizer_stream_subbufs=8.
	[ "$(get $S/enabled)" = 0 ]
	[ "$(get $S/subbuf_size)" = 262144 ]
	[ "$(get $S/subbufs)" = 8 ]
	echo 16 >$S/subbufs
	for bad in 2 yes " 1" 0x1 11; do
		! echo -n "$bad" >$S/enabled
		[ "$(get $S/enabled)" = 0 ]
	done
	for bad in 4096 12288 134217728 abc -8192; do
		! echo -n "$bad" >$S/subbuf_size
		[ "$(get $S/subbuf_size)" = 262144 ]
	done
	for bad in 0 1 1025 x; do
		! echo "$bad" >$S/subbufs
		[ "$(get $S/subbufs)" = 16 ]
	done
	# Not streaming: nothing to dump, flush or consume.
	! echo 1 >$S/dump_live
	! echo 1 >$S/flush
	! echo "0 1" >$S/subbufs_state
	echo 1 >$S/enabled
	[ "$(get $S/enabled)" = 1 ]
	ls $S/cpu0 $S/cpu1
	# The geometry is fixed while streaming; nothing is complete yet.
	! echo 8192 >$S/subbuf_size
	[ "$(get $S/subbuf_size)" = 262144 ]
	! echo "0 1" >$S/subbufs_state
	! echo "99 1" >$S/subbufs_state
	! echo "0" >$S/subbufs_state
	! echo 0 >$S/dump_live
	echo 0 >$S/enabled
	[ "$(get $S/enabled)" = 0 ]
}

@test "stream: the workload's known objects and accesses, in a kmap and in the stream" {
	echo 1 >$M/clear_dead_objs
	echo 1 >$M/memorizer_enabled
	echo 1 >$M/memorizer_log_access
	# kmap mode first.
	echo 200 >$W/small
	small=$(get $W/last)
	echo 3 >$W/large
	large=$(get $W/last)
	echo "small: $small; large: $large"
	echo 0 >$M/memorizer_log_access
	cat $M/kmap >/tmp/fetch/workload.kmap
	check_kmap /tmp/fetch/workload.kmap
	# Exactly the module's counts, in the kmap: objects, access lines,
	# writes and reads of each cache (writes, then reads, on access lines).
	for cache in memorizer_workload memorizer_workload_large; do
		awk -F, -v cache=$cache '
			!/^ / { mine = ($10 == cache); objects += mine; next }
			mine { entries++; writes += $3; reads += $4 }
			END { printf "objects %d entries %d writes %d reads %d\n",
			      objects, entries, writes, reads }' \
			/tmp/fetch/workload.kmap >/tmp/$cache.kmap-counts
	done
	cat /tmp/memorizer_workload*.kmap-counts
	[ "$(cat /tmp/memorizer_workload.kmap-counts)" = "$small" ]
	[ "$(cat /tmp/memorizer_workload_large.kmap-counts)" = "$large" ]


	# The same in stream mode.  The large objects have more entries than
	# the free path writes itself: the stream's worker writes them.
	echo 1 >$M/clear_dead_objs
	streamed0=$(stat objects_streamed)
	dropped0=$(dropped objects)
	entries0=$(dropped entries)
	start_reader /tmp/fetch/workload.mzs
	echo 1 >$M/memorizer_log_access
	echo 200 >$W/small
	echo 3 >$W/large
	echo 0 >$M/memorizer_log_access
	stop_reader /tmp/fetch/workload.mzs
	[ "$(dropped objects)" = "$dropped0" ]
	[ "$(dropped entries)" = "$entries0" ]
	[ "$(stat tracking_stopped_pool_full)" = 0 ]
	streamed=$(( $(stat objects_streamed) - streamed0 ))
	echo "streamed $streamed"
	[ "$streamed" -ge 203 ]
	facts workload streamed=$streamed \
		dropped_objects=0 \
		"small=$small" "large=$large"
}

@test "stream: with tiny buffers and a held-back reader, drops are counted exactly" {
	echo 8192 >$S/subbuf_size
	echo 2 >$S/subbufs
	echo 1 >$M/memorizer_enabled
	streamed0=$(stat objects_streamed)
	dropped0=$(dropped objects)
	live0=$(dropped live)
	start_reader /tmp/fetch/held.mzs
	kill -STOP "$reader"
	echo 1 >$M/memorizer_log_access
	echo 2000 >$W/small
	echo 0 >$M/memorizer_log_access
	kill -CONT "$reader"
	echo 0 >$M/memorizer_enabled
	stop_reader /tmp/fetch/held.mzs
	cat $S/dropped
	dropped=$(( $(dropped objects) - dropped0 ))
	streamed=$(( $(stat objects_streamed) - streamed0 ))
	echo "streamed $streamed, dropped $dropped"
	[ "$dropped" -gt 0 ]
	[ "$dropped" -lt "$streamed" ]
	# The reader reports the drops and what to change.
	grep -q 'subbuf_size' /tmp/fetch/held.mzs.summary
	facts held streamed=$streamed dropped_objects=$dropped \
		dropped_live=$(( $(dropped live) - live0 ))
}

@test "stream: SIGTERM makes the reader switch streaming off and drain everything" {
	echo 1 >$M/memorizer_enabled
	streamed0=$(stat objects_streamed)
	dropped0=$(dropped objects)
	start_reader /tmp/fetch/term.mzs
	echo 1 >$M/memorizer_log_access
	echo 500 >$W/small
	echo 2 >$W/large
	echo 0 >$M/memorizer_log_access
	stop_reader /tmp/fetch/term.mzs TERM
	dropped=$(( $(dropped objects) - dropped0 ))
	[ "$dropped" = 0 ]
	# Objects freed after the stop go to the kmap again.
	echo 1 >$M/clear_dead_objs
	echo 1 >$M/memorizer_enabled
	echo 10 >$W/small
	grep -E 'tracking|pool' $M/stats
	[ "$(grep -c ',memorizer_workload$' $M/kmap)" = 10 ]
	facts term streamed=$(( $(stat objects_streamed) - streamed0 )) \
		dropped_objects=0
}

@test "stream: a workload that fills a small pool in kmap mode runs to completion in stream mode" {
	# This boot's pool is 16 MiB (tests/guest/boots): in kmap mode,
	# where each freed object stays until a clear, 100000 of the
	# workload's objects fill it, and tracking stops.
	echo 1 >$M/clear_dead_objs
	echo 1 >$M/memorizer_enabled
	echo 1 >$M/memorizer_log_access
	echo 100000 >$W/small
	grep -E 'tracking_stopped_pool_full|dropped_.*pool_full|pool_bytes' $M/stats
	[ "$(stat tracking_stopped_pool_full)" = 1 ]
	# A work item switches tracking off.
	wait_for $M/memorizer_enabled 0

	# Stream mode, the same pool: freed objects leave it at once.
	echo 1 >$M/clear_dead_objs
	streamed0=$(stat objects_streamed)
	dropped0=$(dropped objects)
	start_reader /tmp/fetch/pool.mzs
	echo 1 >$M/memorizer_enabled
	pool_full0=$(( $(stat dropped_objects_pool_full) + $(stat dropped_access_records_pool_full) ))
	echo 100000 >$W/small
	grep -E 'tracking_stopped_pool_full|dropped_.*pool_full|pool_bytes_used' $M/stats
	[ "$(stat tracking_stopped_pool_full)" = 0 ]
	[ $(( $(stat dropped_objects_pool_full) + $(stat dropped_access_records_pool_full) )) = "$pool_full0" ]
	[ "$(get $M/memorizer_enabled)" = 1 ]
	echo 0 >$M/memorizer_enabled
	stop_reader /tmp/fetch/pool.mzs
	cat $S/dropped
	[ "$(dropped objects)" = "$dropped0" ]
	streamed=$(( $(stat objects_streamed) - streamed0 ))
	echo "streamed $streamed"
	[ "$streamed" -ge 100000 ]
	facts pool streamed=$streamed dropped_objects=0 workload_objects=100000
}
