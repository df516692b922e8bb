#!/usr/bin/env bats
# SCRATCH (memorizer-stream helper): -n attach, -t, a stop by someone else; delete when done.
load scratch-reader-lib

@test "error messages" {
	try() { echo "\$ memorizer-stream $*"; rc=0; memorizer-stream "$@" || rc=$?; echo "rc $rc"; }
	{
		try -n -o /tmp/x.mzs
		try
		try -o /nonexistent/dir/x.mzs
		try -d /nonexistent -o /tmp/x.mzs
		try -t 0 -o /tmp/x.mzs
		try -x -o /tmp/x.mzs
		echo 1 >$S/enabled
		try -o /tmp/x.mzs
		echo 0 >$S/enabled
		echo 8192 >$S/subbuf_size
		try -o /tmp/x.mzs -t 1 -q
		echo 262144 >$S/subbuf_size
	} >/tmp/fetch/errors.txt 2>&1
	cat /tmp/fetch/errors.txt
}

@test "attach with -n -t, twice, then a reader that sees enabled go 0" {
	tracking_on
	save attach.0
	echo 1 >$S/enabled
	workload 5
	t0=$EPOCHREALTIME
	memorizer-stream -n -t 4 -o /tmp/fetch/attach1.mzs 2>/tmp/fetch/attach1.summary &
	p1=$!
	workload 10
	t1=$EPOCHREALTIME
	rc=0; wait $p1 || rc=$?
	t2=$EPOCHREALTIME
	echo "rc $rc; started $t0, workload done $t1, reader done $t2" >>/tmp/fetch/attach1.summary
	cat /tmp/fetch/attach1.summary
	[ "$rc" = 0 ]
	[ "$(cat $S/enabled)" = 1 ]
	workload 5
	memorizer-stream -n -o /tmp/fetch/attach2.mzs 2>/tmp/fetch/attach2.summary &
	p2=$!
	workload 10
	echo 0 >$S/enabled
	rc=0; wait $p2 || rc=$?
	echo "rc $rc" >>/tmp/fetch/attach2.summary
	cat /tmp/fetch/attach2.summary
	save attach.1
	[ "$rc" = 0 ]
}
