#!/usr/bin/env bats
# SCRATCH (memorizer-stream helper): a held-back reader; delete when done.
load scratch-reader-lib

@test "held back: 2 x 8192, SIGSTOP during the workload" {
	echo 8192 >$S/subbuf_size
	echo 2 >$S/subbufs
	tracking_on
	save held.0
	memorizer-stream -o /tmp/fetch/held.mzs 2>/tmp/fetch/held.summary &
	pid=$!
	wait_enabled 1
	workload 5
	kill -STOP $pid
	workload 20
	cat $S/subbufs_state
	kill -CONT $pid
	workload 5
	kill -INT $pid
	rc=0; wait $pid || rc=$?
	cat /tmp/fetch/held.summary
	echo "rc $rc" >>/tmp/fetch/held.summary
	save held.1
	[ "$rc" = 0 ]
}
