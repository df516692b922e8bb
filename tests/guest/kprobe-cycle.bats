#!/usr/bin/env bats
# A control for tracer.ko's unload crash under multi-threaded TCG (see
# Documentation/tracer.rst, Limits): the same insmod/rmmod cycles with
# kprobe_cycle.ko, the smallest possible kprobe user, on the functions
# where tracer.ko crashed, while every CPU calls them.  Not part of make
# test; run it with each accelerator and compare:
#   vm/run.sh --name kprobe-cycle-mttcg --accel tcg --tests kprobe-cycle.bats
#   vm/run.sh --name kprobe-cycle-single --accel tcg-single --tests kprobe-cycle.bats

MODDIR=${TRACER_MODDIR:-/lib/modules-memorizer}

teardown() {
	[ -z "${loaders:-}" ] || kill $loaders 2>/dev/null || true
	rmmod kprobe_cycle 2>/dev/null || true
}

@test "kprobe_cycle: ${KPROBE_CYCLES:-300} insmod/rmmod cycles while every CPU hits the probed functions" {
	local i
	loaders=
	for i in $(seq "$(nproc)"); do
		# kmalloc, kfree and schedule, over and over.
		(while :; do cat /proc/self/status >/dev/null; done) &
		loaders="$loaders $!"
	done
	for i in $(seq "${KPROBE_CYCLES:-300}"); do
		insmod "$MODDIR/kprobe_cycle.ko"
		rmmod kprobe_cycle
	done
	echo "$i cycles"
}
