#!/usr/bin/env bats
# SCRATCH (memorizer-stream helper): errors, a SIGINT stop; delete when done.
load scratch-reader-lib

@test "errors before any session" {
	run memorizer-stream -n -o /tmp/x.mzs
	echo "$output"; [ "$status" = 1 ]
	run memorizer-stream
	echo "$output"; [ "$status" = 2 ]
	run memorizer-stream -o /tmp/x.mzs -t abc
	echo "$output"; [ "$status" = 2 ]
	run memorizer-stream -o /nonexistent/dir/x.mzs
	echo "$output"; [ "$status" = 1 ]
	run memorizer-stream -o /tmp/x.mzs -d /nonexistent
	echo "$output"; [ "$status" = 1 ]
	[ "$(cat $S/enabled)" = 0 ]
}

@test "basic: SIGINT stop; a second reader without -n is refused" {
	tracking_on
	save basic.0
	memorizer-stream -o /tmp/fetch/basic.mzs 2>/tmp/fetch/basic.summary &
	pid=$!
	wait_enabled 1
	run memorizer-stream -o /tmp/x.mzs
	echo "$output"; [ "$status" = 1 ]
	[[ "$output" == *"already on"* ]]
	workload 50
	kill -INT $pid
	rc=0; wait $pid || rc=$?
	cat /tmp/fetch/basic.summary
	echo "rc $rc" >>/tmp/fetch/basic.summary
	save basic.1
	[ "$(cat $S/enabled)" = 0 ]
	[ "$rc" = 0 ]
}

@test "a second session can start (kernel)" {
	run bash -c "echo 1 >$S/enabled"
	echo "$output"
	dmesg | tail -5
	echo 0 >$S/enabled
	[ "$status" = 0 ]
}
