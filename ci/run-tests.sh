#!/usr/bin/env bash
# Run every test suite of the project and sum their results.
#
# Each suite prints, as its last line, "<suite>: N passed, N failed".  This
# script adds them up and ends with one line "total: N passed, N failed".
# A suite that cannot run because something it needs failed to build counts
# as one failure, so nothing is skipped silently.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
logs=$top/out/test-logs
mkdir -p "$logs"
cd "$top"

total_passed=0 total_failed=0
summary=()
result_re='^[A-Za-z0-9_.+-]+: [0-9]+ passed, [0-9]+ failed'

# account NAME RC START [NOTE] [END]: add the closing line of NAME's log to
# the totals; END (default now) is when it finished.
account() {
	local name=$1 rc=$2 start=$3 note=${4:-} end=${5:-$(date +%s)} line p f
	line=$(grep -E "$result_re" "$logs/$name.log" | tail -n1)
	if [ -n "$line" ]; then
		p=$(sed -E 's/^[^:]+: ([0-9]+) passed.*/\1/' <<<"$line")
		f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
	else
		p=0 f=0
	fi
	# A nonzero exit with no failure counted is still a failure.
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	total_passed=$((total_passed + p))
	total_failed=$((total_failed + f))
	summary+=("$(printf '%-22s %4d passed %4d failed %5d s%s' "$name" "$p" "$f" $((end - start)) "$note")")
}

# Results of unchanged inputs.  A suite that passed is not run again while
# everything it depends on is byte-identical: build/test-cache/NAME.key is
# a digest of its command and of its input files (the kernel image, the
# initramfs, the scripts and tests), NAME.log its passing output.  A fresh
# clone has no cache and runs everything; TEST_CACHE=0 does too.
cache_dir=$top/build/test-cache
mkdir -p "$cache_dir"

# inputs_key INPUTS... -- COMMAND...: the digest of a suite's input files
# and directories, and of its command line
inputs_key() {
	{
		local path
		while [ "$1" != -- ]; do
			path=$1
			shift
			if [ -d "$path" ]; then
				find "$path" -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum
			elif [ -e "$path" ]; then
				sha256sum "$path"
			else
				echo "missing $path"
			fi
		done
		printf '%s\n' "$@"
	} | sha256sum | cut -d' ' -f1
}

# cached NAME KEY: whether NAME passed last time with these inputs; if so,
# its log is shown and counted.
cached() {
	local name=$1 key=$2
	[ "${TEST_CACHE:-1}" = 1 ] && [ -f "$cache_dir/$name.key" ] &&
		[ "$(cat "$cache_dir/$name.key")" = "$key" ] || return 1
	printf '\n===== %s: inputs unchanged since it passed, not run again (TEST_CACHE=0 runs it)\n' "$name"
	cp "$cache_dir/$name.log" "$logs/$name.log"
	grep -E "$result_re" "$logs/$name.log" | tail -n1
	account "$name" 0 "$(date +%s)" " (cached)"
}

# remember NAME KEY RC: keep a passing run's log and key; forget a failure.
remember() {
	local name=$1 key=$2 rc=$3
	rm -f "$cache_dir/$name.key"
	[ "$rc" -eq 0 ] || return 0
	cp "$logs/$name.log" "$cache_dir/$name.log"
	echo "$key" >"$cache_dir/$name.key"
}

# run_cached NAME INPUTS... -- COMMAND...: run_suite unless cached.
run_cached() {
	local name=$1 key rc
	shift
	key=$(inputs_key "$@")
	while [ "$1" != -- ]; do shift; done
	shift
	cached "$name" "$key" && return 0
	run_suite "$name" "$@"
	rc=$?
	remember "$name" "$key" "$rc"
	return "$rc"
}

# run_suite NAME COMMAND...: run it, show its output, add its closing line.
run_suite() {
	local name=$1 start rc
	shift
	start=$(date +%s)
	printf '\n===== %s: %s\n' "$name" "$*"
	"$@" 2>&1 | tee "$logs/$name.log"
	rc=${PIPESTATUS[0]}
	account "$name" "$rc" "$start"
	return "$rc"
}

# start_suite NAME COMMAND...: run it in the background, its output going
# to its log only; finish_suite NAME waits for it, shows the log and adds
# its closing line.  For a suite that can use the CPU time the guests
# leave idle (a TCG guest mostly keeps one host core busy).
declare -A background_pid background_start background_key background_done background_end
start_suite() {
	local name=$1
	shift
	background_key[$name]=$(inputs_key "$@")
	while [ "$1" != -- ]; do shift; done
	shift
	cached "$name" "${background_key[$name]}" && return 0
	printf '\n===== %s: %s (in the background, log in out/test-logs/%s.log)\n' "$name" "$*" "$name"
	background_start[$name]=$(date +%s)
	"$@" >"$logs/$name.log" 2>&1 &
	background_pid[$name]=$!
}

finish_suite() {
	local name=$1 rc
	[ -n "${background_pid[$name]:-}" ] || return 0 # cached
	if [ -n "${background_done[$name]:-}" ]; then
		rc=${background_done[$name]} # run_queue's wait -n reaped it
	else
		wait "${background_pid[$name]}"
		rc=$?
	fi
	printf '\n===== %s (ran in the background)\n' "$name"
	cat "$logs/$name.log"
	account "$name" "$rc" "${background_start[$name]}" "" "${background_end[$name]:-$(date +%s)}"
	remember "$name" "${background_key[$name]}" "$rc"
	return "$rc"
}

# The guests' scheduler.  A TCG guest keeps one host core busy per vCPU
# thread, and a guest that gets less CPU than it has threads runs slower
# than its limits were measured at: the queue starts a job only when the
# cores it holds are free, in the order queued, letting a later job go
# first when it fits where an earlier one does not yet.
#
# queue_job NAME CORES AFTER INPUTS... -- COMMAND...: CORES is capped at
# the host's; AFTER lists, comma-separated, the background suites
# (start_suite) and queued jobs that must have finished first, or is -.
declare -A job_cores job_after job_key job_command
job_queue=()
queue_job() {
	local name=$1 cores=$2 after=$3 key
	shift 3
	key=$(inputs_key "$@")
	while [ "$1" != -- ]; do shift; done
	shift
	cached "$name" "$key" && return 0
	[ "$cores" -le "$host_cores" ] || cores=$host_cores
	job_cores[$name]=$cores job_after[$name]=$after job_key[$name]=$key
	job_command[$name]=$(printf '%q ' "$@")
	job_queue+=("$name")
}

# job_ready NAME: everything in its AFTER list has finished (a suite that
# was cached or never started counts as finished)
job_ready() {
	local after
	[ "${job_after[$1]}" != - ] || return 0
	for after in ${job_after[$1]//,/ }; do
		[ -z "${background_pid[$after]:-}" ] || [ -n "${background_done[$after]:-}" ] || return 1
	done
}

# run_queue: run every queued job; each one's log is shown when it ends.
run_queue() {
	local free=$host_cores name pid rc waiting
	declare -A running_name
	while [ ${#job_queue[@]} -gt 0 ] || [ ${#running_name[@]} -gt 0 ]; do
		waiting=()
		for name in "${job_queue[@]}"; do
			if [ "${job_cores[$name]}" -le "$free" ] && job_ready "$name"; then
				free=$((free - job_cores[$name]))
				printf '\n===== %s: %s(%d of %d cores; log in out/test-logs/%s.log)\n' \
					"$name" "${job_command[$name]}" "${job_cores[$name]}" "$host_cores" "$name"
				background_start[$name]=$(date +%s)
				eval "${job_command[$name]}" >"$logs/$name.log" 2>&1 &
				running_name[$!]=$name
				background_pid[$name]=$!
			else
				waiting+=("$name")
			fi
		done
		job_queue=("${waiting[@]}")
		# Wait for a job, or for a background suite that a queued job
		# waits for.
		wait -n -p pid
		rc=$?
		if [ -n "${running_name[$pid]:-}" ]; then
			name=${running_name[$pid]}
			unset "running_name[$pid]"
			free=$((free + job_cores[$name]))
			background_done[$name]=$rc
			printf '\n===== %s (finished)\n' "$name"
			cat "$logs/$name.log"
			account "$name" "$rc" "${background_start[$name]}"
			remember "$name" "${job_key[$name]}" "$rc"
		else
			for name in "${!background_pid[@]}"; do
				if [ "${background_pid[$name]}" = "$pid" ]; then
					background_done[$name]=$rc
					background_end[$name]=$(date +%s)
				fi
			done
		fi
	done
}
host_cores=$(nproc)

# Steps that produce no test counts of their own: one check each.
step() {
	local name=$1
	shift
	if "$@"; then echo "$name: 1 passed, 0 failed"; else echo "$name: 0 passed, 1 failed"; return 1; fi
}

# Host-side BATS suites: TAP in, one closing line out.
bats_count() {
	local name=$1 dir=$2 tap rc
	tap=$logs/$name.tap
	bats --tap "$dir" | tee "$tap"
	rc=${PIPESTATUS[0]}
	echo "$name: $(grep -c '^ok ' "$tap") passed, $(grep -c '^not ok ' "$tap") failed"
	return "$rc"
}

cannot_run() {
	echo "$1: cannot run, $2 failed"
	echo "$1: 0 passed, 1 failed"
	return 1
}

# The host's speed, measured before anything else runs: every guest's
# limits scale with it (vm/run.sh, ci/host-speed.sh).
if ! speed=$(ci/host-speed.sh); then
	echo "host-speed: the calibration workload failed"
	exit 1
fi
eval "export $speed"
echo "host-speed: $speed"
# Every guest boot's longest step and limit (vm/run.sh), for the summary.
export VM_LIMITS_LOG=$logs/guest-limits
: >"$VM_LIMITS_LOG"

run_suite docs step docs make -s docs
if run_suite kernel step kernel ci/build-kernel.sh; then
	kernel_ok=1
else
	kernel_ok=0
fi
# The analyzer's builds and tests fill the CPU time the guests leave idle:
# they run at the lowest priority, so that a guest beside them keeps the
# cores it was given (see the scheduler below).
start_suite analyzer analyzer ci/deps.sh -- nice -n 19 analyzer/ci-test.sh
# The modules' sources (not their build products, which live beside them).
tracer_sources=(tracer/Kbuild tracer/tracer.c tracer/tracer.h tracer/test/Kbuild
	tracer/test/tracer_test.c tracer/test/kprobe_cycle.c tests/guest/modules/Kbuild
	tests/guest/modules/memorizer_workload.c)
run_cached patches patches kernel-config ci/check-patches.sh "${tracer_sources[@]}" -- \
	ci/check-patches.sh
run_cached modules-headers "${tracer_sources[@]}" ci/build-modules-headers.sh -- \
	ci/build-modules-headers.sh
# What every guest boot depends on.
kobj=${KERNEL_OBJ:-$top/build/obj}
guest=("$kobj/arch/x86/boot/bzImage" "$kobj/System.map" build/initramfs.cpio.gz vm/run.sh
	vm/hung-cpus.py vm/ktap-extract.sh ci/host-speed.sh tests/guest/boots)
if [ "$kernel_ok" = 1 ] && run_suite modules step modules make -s modules &&
	run_suite initramfs step initramfs vm/mkinitramfs.sh; then
	# Each guest holds as many host cores as it runs vCPU threads: its
	# -smp for multi-threaded TCG, one for single-threaded TCG, never more
	# than the host has.  The harness's and the end-to-end boots are
	# two-vCPU guests.  Single-threaded guests go first: the core they
	# leave free is the analyzer's, whose capmap the end-to-end test needs.
	mapfile -t boots < <(grep -v -e '^#' -e '^[[:space:]]*$' tests/guest/boots)
	for pass in single multi; do
		for line in "${boots[@]}"; do
			read -r profile smp accel _ <<<"$line"
			threads=$smp kind=multi
			[ "$accel" != tcg-single ] || threads=1 kind=single
			[ "$kind" = "$pass" ] || continue
			queue_job "vm-$profile" "$threads" - "${guest[@]}" -- vm/run.sh --profile "$profile"
		done
	done
	queue_job harness 2 - "${guest[@]}" tests/harness -- bats_count harness tests/harness
	# End to end: a kmap from a real guest and the stream profile's files,
	# analyzed by the capmap just built.
	queue_job end-to-end 2 analyzer,vm-stream "${guest[@]}" tests/host vm/demo.sh \
		tests/guest/stream.bats build/analyzer/release/capmap -- bats_count end-to-end tests/host
	run_queue
else
	run_suite vm cannot_run vm "the kernel, module or initramfs build"
fi
finish_suite analyzer

printf '\n===== summary (logs in out/test-logs)\n'
printf '%s\n' "${summary[@]}"
printf '\n===== guest boots: longest wait for progress against its limit (%s)\n' "$speed"
if [ -s "$VM_LIMITS_LOG" ]; then
	sort -k1,1 "$VM_LIMITS_LOG" | awk '
		{ m = $2 > 0 ? sprintf("margin %.1fx", $3 / $2) : "no progress"
		  printf "%-22s %5d s in all, longest step %4d s of %4d s (%s) %s\n", $1, $4, $2, $3, m, $5
		  if ($2 > 0 && (min == "" || $3 / $2 < min)) { min = $3 / $2; at = $1 } }
		END { if (min != "") printf "smallest margin: %.1fx (%s)\n", min, at }'
else
	echo "(no guest booted in this run)"
fi
echo "total: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
