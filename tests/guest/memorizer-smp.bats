#!/usr/bin/env bats
# Memorizer on SMP: kmap reads while the other CPUs allocate (run with
# -smp 2 and -smp 4 by tests/guest/boots).  Helpers: memorizer-lib.bash.

load memorizer-lib

@test "boot parameters: memorizer_enabled_boot and memalloc_size are honoured" {
	check_boot_parameters
}

@test "reading the kmap while other CPUs allocate heavily" {
	echo 1 >$M/clear_dead_objs
	echo 1 >$M/memorizer_enabled
	echo 0 >$M/print_live_obj
	start_loaders
	# Freed objects with the loaders' accesses, recorded during the first
	# read (on -smp 4 that is about a million access lines), then without.
	echo 1 >$M/memorizer_log_access
	echo "memorizer-smp.bats: $(( $(nproc) - 1 )) loaders started" >/dev/kmsg
	for round in 1 2; do
		started=$SECONDS
		cat $M/kmap >/tmp/kmap.$round
		[ "$round" -gt 1 ] || echo 0 >$M/memorizer_log_access
		# On the console too, where a run that times out still shows it.
		echo "memorizer-smp.bats: kmap read $round: $(wc -l </tmp/kmap.$round) lines in $((SECONDS - started)) s" |
			tee /dev/kmsg
		check_kmap /tmp/kmap.$round
		grep -q '^  ' /tmp/kmap.$round
		echo 1 >$M/clear_printed_list
	done
	# Recording went on all along: the pool did not run out.
	[ "$(stat tracking)" -eq 1 ]
	# Live objects too, allocated and freed under the reader.
	echo 1 >$M/print_live_obj
	cat $M/kmap >/dev/null
	head -n 1 $M/kmap | grep -qx '# memorizer kmap v1'
	kill $loaders 2>/dev/null || true
	wait $loaders 2>/dev/null || true
	echo 0 >$M/memorizer_enabled
	echo 1 >$M/clear_dead_objs
	# No lockdep, KASAN or WARN report from any of it.
	! dmesg | grep -E 'WARNING:|BUG:|circular locking|inconsistent lock|KASAN'
}
