#!/usr/bin/env bats
# In-guest tests of tracer.ko (Documentation/tracer.rst).
#
# tracer_test.ko starts kernel threads that make known numbers of the
# counted calls (see its header comment); each test adds their PIDs through
# /dev/tracer with tracerctl and checks their /proc/tracer rows exactly
# (sched: at least the expected count).  Every test also checks that no
# probe hit was missed.

MODDIR=${TRACER_MODDIR:-/lib/modules-memorizer}
TT=/sys/kernel/debug/tracer_test
STATS=/sys/kernel/debug/tracer/stats
HEADER='PID   kmalloc kfree kmalloc_mem kfree_mem  sched   up     down  lock   unlock'

KMEMLEAK=/sys/kernel/debug/kmemleak

# A block is reported when a scan finds it unreferenced and unchanged
# since the scan before (kmemleak skips blocks whose checksum changed),
# and at least 5 s old: two scans.
kmemleak_scan() {
	echo scan >$KMEMLEAK
	echo scan >$KMEMLEAK
}

setup_file() {
	# What is unreferenced before the tests is not theirs (the tracer
	# profile boots with kmemleak=on; see the last test).
	if [ -e $KMEMLEAK ]; then
		kmemleak_scan
		echo clear >$KMEMLEAK
	fi
	insmod "$MODDIR/tracer_test.ko"
}

teardown_file() {
	rmmod tracer_test
}

# A fresh tracer.ko for every test: its stats start from zero.
setup() {
	insmod "$MODDIR/tracer.ko"
}

teardown() {
	echo 1 >"$TT/stop"
	if [ -e /proc/tracer ]; then
		rmmod tracer
	fi
}

# Helpers use bash builtins where they can: in this guest (KASAN, lockdep
# and kmemleak under single-threaded TCG) every fork and exec costs about
# 0.2 s, and a test that checks 32 rows would spend most of its time
# starting awk.

# spawn WORDS...: one worker thread (see tracer_test.c for the words)
spawn() {
	echo "$*" >"$TT/spawn"
}

# worker_pids: PIDS, the workers' PIDs in the order spawned
worker_pids() {
	mapfile -t PIDS <"$TT/pids"
}

go() {
	echo 1 >"$TT/go"
}

add_all() {
	worker_pids
	[ ${#PIDS[@]} -eq 0 ] || tracerctl add "${PIDS[@]}"
}

# load_table: ROW (PID -> the rest of its /proc/tracer row) and ORDER (the
# PIDs as listed), from one read of /proc/tracer
load_table() {
	local header pid rest
	declare -gA ROW=()
	ORDER=()
	{
		read -r header
		while read -r pid rest; do
			ROW[$pid]=$rest
			ORDER+=("$pid")
		done
	} </proc/tracer
}

# has_row PID: whether /proc/tracer has a row for PID now
has_row() {
	load_table
	[ -n "${ROW[$1]+set}" ]
}

# expect_row PID KMALLOC KFREE KMALLOC_MEM KFREE_MEM SCHED UP DOWN LOCK UNLOCK
# Every column must match exactly except sched, which must be at least SCHED.
# The row is from the last load_table (expect_rows) or from a new one.
expect_row() {
	load_table
	check_row "$@"
}

check_row() {
	local pid=$1 names=(kmalloc kfree kmalloc_mem kfree_mem sched up down lock unlock)
	local -a got want
	shift
	want=("$@")
	if [ -z "${ROW[$pid]+set}" ]; then
		echo "no row for PID $pid in /proc/tracer:"
		cat /proc/tracer
		return 1
	fi
	read -ra got <<<"${ROW[$pid]}"
	if [ ${#got[@]} -ne 9 ]; then
		echo "row has $((${#got[@]} + 1)) fields: $pid ${ROW[$pid]}"
		return 1
	fi
	local i bad=0
	for i in "${!names[@]}"; do
		if [ "$i" -eq 4 ] && [ "${got[i]}" -ge "${want[i]}" ]; then
			continue
		elif [ "$i" -ne 4 ] && [ "${got[i]}" = "${want[i]}" ]; then
			continue
		fi
		echo "${names[i]}: got ${got[i]}, want $([ "$i" -eq 4 ] && echo ">= ")${want[i]}"
		bad=1
	done
	if [ "$bad" = 1 ]; then
		echo "row:  $pid ${ROW[$pid]}"
		echo "want: $pid $*"
		return 1
	fi
}

assert_no_row() {
	if has_row "$1"; then
		echo "PID $1 still has a row:"
		cat /proc/tracer
		return 1
	fi
}

# wait_no_row PID: an exiting task's row goes when it reaches do_task_dead()
wait_no_row() {
	local i
	for i in $(seq 100); do
		has_row "$1" || return 0
		sleep 0.1
	done
	assert_no_row "$1"
}

# No hit lost that a monitored process could have made (see the stats
# comment in tracer.c); hits dropped in interrupts around a handler are
# only reported.
assert_no_missed() {
	local key a b lost=()
	while read -r key a b; do
		case $key in
		nested) [ "$b" = 0 ] || echo "# $key $a $b" >&3 ;;
		missed) [ "$b" = 0 ] || lost+=("$key $a $b") ;;
		records_dropped) [ "$a" = 0 ] || lost+=("$key $a") ;;
		esac
	done <"$STATS"
	if [ ${#lost[@]} -gt 0 ]; then
		echo "probe hits missed or records dropped:"
		printf '%s\n' "${lost[@]}"
		return 1
	fi
}

# expect_tracerctl ERRNO_NAME ARGS...: tracerctl must fail with that errno
expect_tracerctl() {
	local want=$1
	shift
	run tracerctl "$@"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"($want)"* ]]
}

@test "tracer: /proc/tracer has the exact header and /dev/tracer is misc 10:42" {
	[ "$(cat /proc/tracer)" = "$HEADER" ]
	[ -c /dev/tracer ]
	[ "$(stat -c '%t:%T' /dev/tracer)" = "a:2a" ]
	[ ! -w /proc/tracer ] || [ "$(stat -c %a /proc/tracer)" = 444 ]
}

@test "tracer: a new row is all zeros and the table keeps the order of addition" {
	spawn sched=0
	spawn sched=0
	add_all
	load_table
	[ "${ORDER[*]}" = "${PIDS[*]}" ]
	[ ${#ORDER[@]} -eq 2 ]
	check_row "${PIDS[0]}" 0 0 0 0 0 0 0 0 0
	check_row "${PIDS[1]}" 0 0 0 0 0 0 0 0 0
}

@test "tracer: kmalloc with a run-time size (__kmalloc_noprof), some freed" {
	spawn kmalloc=10 size=100 path=var free=4
	add_all
	go
	expect_row "${PIDS[0]}" 10 4 1000 400 0 0 0 0 0
	assert_no_missed
}

@test "tracer: kmalloc with a constant size from a cache (__kmalloc_cache_noprof)" {
	spawn kmalloc=7 size=32 path=cache free=7
	spawn kmalloc=5 size=1000 path=cache free=2
	add_all
	go
	load_table
	check_row "${PIDS[0]}" 7 7 224 224 0 0 0 0 0
	check_row "${PIDS[1]}" 5 2 5000 2000 0 0 0 0 0
	assert_no_missed
}

@test "tracer: kmalloc of a constant size above the caches (__kmalloc_large_noprof)" {
	spawn kmalloc=3 size=9000 path=large free=2
	add_all
	go
	expect_row "${PIDS[0]}" 3 2 27000 18000 0 0 0 0 0
	assert_no_missed
}

@test "tracer: a large run-time size is counted once, not again inside kmalloc" {
	spawn kmalloc=4 size=20000 path=var free=1
	add_all
	go
	expect_row "${PIDS[0]}" 4 1 80000 20000 0 0 0 0 0
	assert_no_missed
}

@test "tracer: kmalloc(0) and kfree(ZERO_SIZE_PTR) count as calls of 0 bytes" {
	spawn kmalloc=6 size=0 path=var free=6
	add_all
	go
	expect_row "${PIDS[0]}" 6 6 0 0 0 0 0 0 0
	assert_no_missed
}

@test "tracer: a failed kmalloc is a call that allocated 0 bytes" {
	spawn fail=3
	add_all
	go
	expect_row "${PIDS[0]}" 3 0 0 0 0 0 0 0 0
	assert_no_missed
}

@test "tracer: kfree of blocks the process did not allocate adds no bytes" {
	spawn foreign=4 size=64
	add_all
	go
	expect_row "${PIDS[0]}" 0 4 0 0 0 0 0 0 0
	assert_no_missed
}

@test "tracer: schedule" {
	spawn sched=50
	add_all
	go
	expect_row "${PIDS[0]}" 0 0 0 0 50 0 0 0 0
	assert_no_missed
}

@test "tracer: up and down_interruptible" {
	spawn sem=20
	add_all
	go
	expect_row "${PIDS[0]}" 0 0 0 0 0 20 20 0 0
	assert_no_missed
}

@test "tracer: mutex_lock (mutex_lock_nested under lockdep) and mutex_unlock" {
	spawn mutex=30
	add_all
	go
	expect_row "${PIDS[0]}" 0 0 0 0 0 0 0 30 30
	assert_no_missed
}

@test "tracer: every counter at once, two rounds accumulate" {
	spawn kmalloc=8 size=48 free=5 sched=10 sem=4 mutex=6 rounds=2
	add_all
	go
	expect_row "${PIDS[0]}" 8 5 384 240 10 4 4 6 6
	go
	expect_row "${PIDS[0]}" 16 10 768 480 20 8 8 12 12
	assert_no_missed
}

# threads N SHARED: N workers with distinct counts, all running at once
threads() {
	local n=$1 shared=$2 i pid
	for ((i = 0; i < n; i++)); do
		spawn kmalloc=$((i + 1)) size=$((8 * (i + 1))) free=$((i / 2)) \
			sched=$((i + 1)) sem=$((2 * i + 1)) mutex=$((3 * i + 1)) \
			shared="$shared"
	done
	add_all
	go
	i=0
	load_table
	for pid in "${PIDS[@]}"; do
		check_row "$pid" $((i + 1)) $((i / 2)) \
			$((8 * (i + 1) * (i + 1))) $((8 * (i + 1) * (i / 2))) \
			$((i + 1)) $((2 * i + 1)) $((2 * i + 1)) \
			$((3 * i + 1)) $((3 * i + 1))
		i=$((i + 1))
	done
	[ "$i" -eq "$n" ]
	assert_no_missed
}

@test "tracer: 16 threads with distinct counts" {
	threads 16 0
}

@test "tracer: 32 threads sleeping in down_interruptible and mutex_lock" {
	threads 32 1
}

@test "tracer: remove hides the row at once, a new add starts from zero" {
	spawn kmalloc=5 size=64 free=5 sem=3 mutex=2 rounds=3
	worker_pids
	pid=${PIDS[0]}
	tracerctl add "$pid"
	go
	expect_row "$pid" 5 5 320 320 0 3 3 2 2
	tracerctl remove "$pid"
	assert_no_row "$pid"
	go
	assert_no_row "$pid"
	tracerctl add "$pid"
	expect_row "$pid" 0 0 0 0 0 0 0 0 0
	go
	expect_row "$pid" 5 5 320 320 0 3 3 2 2
	assert_no_missed
}

@test "tracer: adding and removing PIDs while their threads run" {
	local i pid
	# Enough work to keep the threads busy while the PIDs come and go.
	for i in 1 2 3 4; do
		spawn kmalloc=1000 size=24 free=1000 sched=10000 sem=2500 mutex=2500
	done
	worker_pids
	go &
	local go_pid=$!
	for i in $(seq 10); do
		tracerctl add "${PIDS[@]}"
		tracerctl remove "${PIDS[@]}"
	done
	if kill -0 "$go_pid" 2>/dev/null; then
		echo "# threads still running after the add/remove loop" >&3
	fi
	wait "$go_pid"
	[ "$(cat /proc/tracer)" = "$HEADER" ]
	assert_no_missed
}

@test "tracer: exiting kernel threads leave the table" {
	spawn kmalloc=2 size=16 sched=1
	spawn mutex=2
	spawn sem=2
	add_all
	go
	load_table
	for pid in "${PIDS[@]}"; do
		[ -n "${ROW[$pid]+set}" ]
	done
	echo 1 >"$TT/stop"
	for pid in "${PIDS[@]}"; do
		wait_no_row "$pid"
	done
	grep -qx 'monitored 0' "$STATS"
	assert_no_missed
}

@test "tracer: an exiting user process leaves the table" {
	sleep 1000 &
	local pid=$!
	tracerctl add "$pid"
	has_row "$pid"
	kill "$pid"
	wait "$pid" || true
	wait_no_row "$pid"
	expect_tracerctl ESRCH remove "$pid"
}

@test "tracer: adding a PID twice fails with EEXIST and keeps one row" {
	spawn sem=1
	worker_pids
	pid=${PIDS[0]}
	tracerctl add "$pid"
	go
	expect_tracerctl EEXIST add "$pid"
	load_table
	[ "$(printf '%s\n' "${ORDER[@]}" | grep -cx "$pid")" -eq 1 ]
	expect_row "$pid" 0 0 0 0 0 1 1 0 0
}

@test "tracer: bad requests and PIDs get clear errors and change nothing" {
	local pid_max unused
	pid_max=$(cat /proc/sys/kernel/pid_max)
	unused=$((pid_max - 1))
	while [ -d "/proc/$unused" ]; do unused=$((unused - 1)); done

	expect_tracerctl ESRCH add "$unused"
	expect_tracerctl ESRCH remove "$unused"
	expect_tracerctl ENOENT remove $$
	expect_tracerctl EINVAL add 0
	expect_tracerctl EINVAL add -1
	expect_tracerctl EINVAL remove -5
	expect_tracerctl ENOTTY ioctl 0x1234 $$
	# The right number with the wrong direction or size is not ours either.
	expect_tracerctl ENOTTY ioctl $((0x4008012a)) $$
	[ "$(cat /proc/tracer)" = "$HEADER" ]
}

@test "tracer: /proc/tracer and /dev/tracer go with rmmod and come back" {
	sleep 1000 &
	local pid=$!
	tracerctl add "$pid"
	has_row "$pid"
	rmmod tracer
	[ ! -e /proc/tracer ]
	[ ! -e /dev/tracer ]
	[ ! -e /sys/kernel/debug/tracer ]
	insmod "$MODDIR/tracer.ko"
	[ "$(cat /proc/tracer)" = "$HEADER" ]
	# A sleeping process makes no calls: a fresh row is all zeros.
	tracerctl add "$pid"
	expect_row "$pid" 0 0 0 0 0 0 0 0 0
	kill "$pid"
	wait "$pid" || true
}

@test "tracer: bad module parameters are refused" {
	rmmod tracer
	run insmod "$MODDIR/tracer.ko" maxactive=0
	[ "$status" -ne 0 ]
	run insmod "$MODDIR/tracer.ko" max_records=0
	[ "$status" -ne 0 ]
	[ ! -e /proc/tracer ]
	insmod "$MODDIR/tracer.ko" maxactive=64 max_records=16
	[ "$(cat /sys/module/tracer/parameters/max_records)" = 16 ]
}

@test "tracer: a full record table is counted in records_dropped" {
	rmmod tracer
	insmod "$MODDIR/tracer.ko" max_records=4
	spawn kmalloc=10 size=64 free=10
	add_all
	go
	# Six blocks could not be remembered, so their kfree added nothing.
	expect_row "${PIDS[0]}" 10 10 640 256 0 0 0 0 0
	grep -qx 'records_dropped 6' "$STATS"
}

# The kprobes registered now, as /sys/kernel/debug/kprobes/list lists them
# (address, type, symbol+offset, flags): PROBES.  Removing probes does not
# reorder the others, so the list after rmmod equals the one before.
KPROBES=/sys/kernel/debug/kprobes/list
list_probes() {
	mapfile -t PROBES <$KPROBES
}

# Each cycle checks directly for what a leaking unload would leave behind:
# a registered kprobe, /proc/tracer, /dev/tracer, the debugfs directory,
# the module itself; a leaked misc minor or proc entry also fails the next
# insmod (EBUSY, or a WARN that panics the guest), and leaked memory fails
# the kmemleak test below.  Checked directly, one cycle finds a leak that
# happens on every unload; the cycles are there for the ones that do not.
@test "tracer: 30 insmod/rmmod cycles with a monitored process leave nothing behind" {
	local i before loaded
	rmmod tracer
	[ -r $KPROBES ] || { echo "no $KPROBES (CONFIG_KPROBES and debugfs)"; return 1; }
	list_probes
	before=("${PROBES[@]}")
	for i in $(seq 30); do
		insmod "$MODDIR/tracer.ko"
		tracerctl add $$
		has_row $$
		if [ "$i" -eq 1 ]; then
			# tracer.ko's 13 probes: 6 counting kprobes, do_task_dead,
			# and for each of the 3 kmalloc entry points a kretprobe and
			# the pin beside it.
			list_probes
			loaded=$((${#PROBES[@]} - ${#before[@]}))
			echo "# tracer.ko registers $loaded kprobes" >&3
			[ "$loaded" -eq 13 ]
		fi
		rmmod tracer
		for f in /proc/tracer /dev/tracer /sys/kernel/debug/tracer /sys/module/tracer; do
			if [ -e "$f" ]; then
				echo "cycle $i: $f is still there after rmmod"
				return 1
			fi
		done
		list_probes
		if [ "${PROBES[*]}" != "${before[*]}" ]; then
			echo "cycle $i: kprobes left after rmmod:"
			printf '%s\n' "${PROBES[@]}" >/tmp/probes.after
			printf '%s\n' "${before[@]}" | diff - /tmp/probes.after
			return 1
		fi
	done
}

# Last: every test above loaded and unloaded tracer.ko at least once.
@test "tracer: kmemleak finds no leak after all the tests" {
	[ -e $KMEMLEAK ] || {
		echo "no $KMEMLEAK: boot with kmemleak=on (tests/guest/boots, profile tracer)"
		return 1
	}
	rmmod tracer
	sleep 6
	kmemleak_scan
	cat $KMEMLEAK >/tmp/kmemleak.txt
	cat /tmp/kmemleak.txt
	[ ! -s /tmp/kmemleak.txt ]
}
