#!/usr/bin/env bats
# Run only by tests/harness/harness.bats: proves that a failing in-guest test
# fails the run.  Not listed in tests/guest/boots.

@test "a passing test before the failure" {
	true
}

@test "this test fails on purpose" {
	[ "$(cat /proc/sys/kernel/ostype)" = "not-linux" ]
}
