#!/usr/bin/env bats
# SCRATCH (memorizer-stream helper): a SIGTERM stop; delete when done.
load scratch-reader-lib

@test "SIGTERM stop drains everything" {
	tracking_on
	save term.0
	MS_DEBUG=1 memorizer-stream -t 3000 -o /tmp/fetch/term.mzs 2>/tmp/fetch/term.summary &
	pid=$!
	wait_enabled 1
	workload 30
	kill -TERM $pid
	rc=0; wait $pid || rc=$?
	cat /tmp/fetch/term.summary
	echo "rc $rc" >>/tmp/fetch/term.summary
	save term.1
	[ "$(cat $S/enabled)" = 0 ]
	[ "$rc" = 0 ]
}
