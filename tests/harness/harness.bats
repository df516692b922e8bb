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

@test "a guest kernel that panics is detected within seconds, not at the timeout" {
	# init exiting is a real panic ("Attempted to kill init!").
	SECONDS=0
	run "$top/vm/run.sh" --name selftest-panic --append rdinit=/bin/false --timeout 600
	echo "$output"
	echo "detected after $SECONDS s"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Kernel panic - not syncing"* ]]
	[ "$SECONDS" -lt 120 ]
}

@test "a run that hangs is stopped at the hard timeout" {
	# init is "sleep 3600" (the kernel passes "3600" to init): the guest
	# boots fine and never reports.
	SECONDS=0
	run "$top/vm/run.sh" --name selftest-hang --append "rdinit=/bin/sleep 3600" --timeout 45
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"timeout after 45 s"* ]]
	# ... and says where the vCPUs were, by kernel symbol.
	[[ "$output" =~ CPU#0\ RIP\ [0-9a-f]+\ [A-Za-z0-9_.]+\+0x ]]
	[ "$SECONDS" -lt 90 ]
}
