#!/usr/bin/env bats
# The stream on -smp 4, started at boot (memorizer_stream=1 in the profile
# memorizer-smp4, tests/guest/boots): a reader attaches to it, three CPUs
# allocate and free while the fourth copies, and streaming is switched off
# under them.  Runs before memorizer-smp.bats, which needs kmap mode.

load memorizer-lib

S=$M/stream

# total FIELD FILE: a figure of memorizer-stream's "Total:" summary line,
# "Total: N records, X objects, L live, K LOST, B bytes, ..." (objects:
# freed ones)
total() {
	awk -v field="$1" '$1 == "Total:" {
		gsub(/[(),]/, "")
		for (i = 2; i < NF; i++) if ($(i + 1) == field) { print $i; exit } }' "$2"
}

dropped() {
	awk -v kind="$1" '$1 == "total" {
		for (i = 2; i < NF; i += 2) if ($i == kind) print $(i + 1) }' $S/dropped
}

@test "stream on -smp 4: started at boot, read under load, stopped under load" {
	# memorizer_stream=1: streaming since boot, with tracking on from boot.
	[ "$(cat $S/enabled)" = 1 ]
	ls $S/cpu0 $S/cpu1 $S/cpu2 $S/cpu3
	[ "$(stat stream_objects)" -gt 0 ]
	# Attach (-n: streaming is already on); nothing was consumed before,
	# so the file gets everything the kernel wrote since boot.
	memorizer-stream -n -o /tmp/smp.mzs 2>/tmp/smp.summary &
	reader=$!
	start_loaders
	echo 1 >$M/memorizer_log_access
	sleep 5
	# Off while the loaders run: the live objects are written, the last
	# sub-buffers completed; the reader sees enabled 0 and drains.
	echo 0 >$S/enabled
	rc=0
	wait "$reader" || rc=$?
	cat /tmp/smp.summary
	[ "$rc" -eq 0 ]
	kill $loaders 2>/dev/null || true
	wait $loaders 2>/dev/null || true
	echo 0 >$M/memorizer_log_access
	cat $S/dropped
	grep stream $M/stats
	# Every object the stream took since boot is in the file or dropped.
	freed=$(total objects /tmp/smp.summary)
	live=$(total live /tmp/smp.summary)
	streamed=$(stat objects_streamed)
	dropped_freed=$(dropped objects)
	dropped_live=$(dropped live)
	echo "streamed $streamed: in the file $freed, dropped $dropped_freed;" \
		"live objects: in the file $live, dropped $dropped_live"
	[ "$freed" -eq $((streamed - dropped_freed)) ]
	[ "$live" -eq $(( $(stat stream_objects_live) )) ]
	# No lockdep, KASAN or WARN report from any of it.
	! dmesg | grep -E 'WARNING:|BUG:|circular locking|inconsistent lock|KASAN'
}
