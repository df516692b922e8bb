#!/usr/bin/env bats
# The guest the harness boots: the facts every other in-guest suite relies on.

@test "the kernel is the Memorizer build with every CPU the harness asked for" {
	uname -r | grep -q -- '-memorizer$'
	[ "$(nproc)" -eq "$(grep -c ^processor /proc/cpuinfo)" ]
	[ "$(cat /sys/devices/system/cpu/online)" = "$(cat /sys/devices/system/cpu/possible)" ]
}

@test "debugfs is mounted and has the memorizer directory" {
	grep -q ' /sys/kernel/debug debugfs ' /proc/mounts
	[ -d /sys/kernel/debug/memorizer ]
}

@test "generic KASAN is active (Memorizer's access hooks live in it)" {
	dmesg | grep -q 'KernelAddressSanitizer initialized'
}

@test "the results share is mounted over 9p" {
	grep -q ' /mnt/results 9p ' /proc/mounts
	[ -w /mnt/results ]
}

@test "an ssh server listens for scp" {
	netstat -ltn | grep -q ':22 '
	kill -0 "$(cat /run/dropbear.pid)"
}
