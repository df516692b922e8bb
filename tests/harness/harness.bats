#!/usr/bin/env bats
# Tests of the VM harness itself, on the real kernel in QEMU: failures in
# the guest must fail the run, quickly and with the evidence quoted.

setup() {
	top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
}

@test "a guest test that prints 'not ok' fails the run and is quoted" {
	run "$top/vm/run.sh" --name selftest-not-ok --tests harness-fixtures/fails-on-purpose.bats
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"not ok 2 this test fails on purpose"* ]]
	[[ "$output" == *"vm-selftest-not-ok: "*" passed, 1 failed"* ]]
}

@test "a guest kernel that panics is detected at once, not at the progress limit" {
	# init exiting is a real panic ("Attempted to kill init!").  The limit
	# is long (600 s without progress): only the console watch can end
	# this run early.
	SECONDS=0
	run "$top/vm/run.sh" --name selftest-panic --append rdinit=/bin/false --stall 600
	echo "$output"
	echo "# panic detected after $SECONDS s" >&3
	[ "$status" -ne 0 ]
	[[ "$output" == *"Kernel panic - not syncing"* ]]
	[[ "$output" == *"FAIL: kernel error on the console"* ]]
	[[ "$output" != *"FAIL: no progress"* ]]
	[ "$SECONDS" -lt 600 ]
}

@test "a guest that makes no progress is stopped at the limit derived from the host's speed" {
	# init is "sleep 3600" (the kernel passes "3600" to init): the guest
	# boots fine and never reports.  A step of 15 s on a host measured at
	# the reference speed gives 45 s without progress.
	SECONDS=0
	HOST_SLOWDOWN=1.00 run "$top/vm/run.sh" --name selftest-hang --append "rdinit=/bin/sleep 3600" --step 15
	echo "$output"
	echo "# hang detected after $SECONDS s (limit 45 s without progress)" >&3
	[ "$status" -ne 0 ]
	[[ "$output" == *"limits: no progress for 45 s (step 15 s x host slowdown 1.00 x margin 3)"* ]]
	[[ "$output" == *"no progress for 45 s"* ]]
	# ... and says where the vCPUs were, by kernel symbol.
	[[ "$output" =~ CPU#0\ RIP\ [0-9a-f]+\ [A-Za-z0-9_.]+\+0x ]]
	# Stopped at the limit, plus the time to ask QEMU where the vCPUs are.
	[ "$SECONDS" -ge 45 ]
	[ "$SECONDS" -lt 120 ]
}
