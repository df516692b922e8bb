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

# account NAME RC START [NOTE]: add the closing line of NAME's log to the
# totals.
account() {
	local name=$1 rc=$2 start=$3 note=${4:-} line p f
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
	summary+=("$(printf '%-22s %4d passed %4d failed %5d s%s' "$name" "$p" "$f" $(($(date +%s) - start)) "$note")")
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
declare -A background_pid background_start background_key
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
	wait "${background_pid[$name]}"
	rc=$?
	printf '\n===== %s (ran in the background)\n' "$name"
	cat "$logs/$name.log"
	account "$name" "$rc" "${background_start[$name]}"
	remember "$name" "${background_key[$name]}" "$rc"
	return "$rc"
}

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

run_suite docs step docs make -s docs
if run_suite kernel step kernel ci/build-kernel.sh; then
	kernel_ok=1
else
	kernel_ok=0
fi
# The analyzer's builds and tests overlap the guest boots.
start_suite analyzer analyzer ci/deps.sh -- analyzer/ci-test.sh
# The modules' sources (not their build products, which live beside them).
tracer_sources=(tracer/Kbuild tracer/tracer.c tracer/tracer.h tracer/test/Kbuild
	tracer/test/tracer_test.c tracer/test/kprobe_cycle.c)
run_cached patches patches kernel-config ci/check-patches.sh "${tracer_sources[@]}" -- \
	ci/check-patches.sh
run_cached modules-headers "${tracer_sources[@]}" ci/build-modules-headers.sh -- \
	ci/build-modules-headers.sh
# What every guest boot depends on.
kobj=${KERNEL_OBJ:-$top/build/obj}
guest=("$kobj/arch/x86/boot/bzImage" "$kobj/System.map" build/initramfs.cpio.gz vm/run.sh
	vm/hung-cpus.py vm/ktap-extract.sh tests/guest/boots)
if [ "$kernel_ok" = 1 ] && run_suite modules step modules make -s modules &&
	run_suite initramfs step initramfs vm/mkinitramfs.sh; then
	# A single-threaded TCG guest keeps one host core busy: it runs in the
	# background, beside the multi-threaded guests and the harness tests.
	single_threaded=() multi_threaded=()
	while read -r profile _ accel _; do
		if [ "$accel" = tcg-single ]; then
			single_threaded+=("$profile")
		else
			multi_threaded+=("$profile")
		fi
	done < <(grep -v -e '^#' -e '^[[:space:]]*$' tests/guest/boots)
	for profile in "${single_threaded[@]}"; do
		start_suite "vm-$profile" "${guest[@]}" -- vm/run.sh --profile "$profile"
	done
	for profile in "${multi_threaded[@]}"; do
		run_cached "vm-$profile" "${guest[@]}" -- vm/run.sh --profile "$profile"
	done
	run_cached harness "${guest[@]}" tests/harness -- bats_count harness tests/harness
	# End to end: a kmap from a real guest, analyzed by the capmap just built.
	finish_suite analyzer
	run_cached end-to-end "${guest[@]}" tests/host vm/demo.sh build/analyzer/release/capmap -- \
		bats_count end-to-end tests/host
	for profile in "${single_threaded[@]}"; do
		finish_suite "vm-$profile"
	done
else
	run_suite vm cannot_run vm "the kernel, module or initramfs build"
	finish_suite analyzer
fi

printf '\n===== summary (logs in out/test-logs)\n'
printf '%s\n' "${summary[@]}"
echo "total: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
