#!/usr/bin/env bats
# In-guest tests of Memorizer's debugfs interface (Documentation/debugfs.rst).
# Helpers, and the kmap format they check: memorizer-lib.bash.

load memorizer-lib

@test "boot parameters: memorizer_enabled_boot and memalloc_size are honoured" {
	check_boot_parameters
}

@test "the seeds' Running the test sequence yields freed objects with their accesses" {
	# The guest's copy of the seeds' sequence, verbatim (vm/initramfs/).
	/usr/share/memorizer/workload-simple.sh /tmp/kmap
	[ "$(cat $M/memorizer_enabled)" = 0 ]
	[ "$(cat $M/print_live_obj)" = 0 ]
	check_kmap /tmp/kmap
	# print_live_obj is 0: only freed objects, each with its free time.
	awk -F, '!/^#/ && !/^ / && $6 == 0 { print; exit 1 }' /tmp/kmap
	# ls -l allocated and freed objects, which it read and wrote.
	awk -F, '
		!/^ / { is_ls = ($9 == "ls") }
		/^ / && is_ls { accesses++ }
		!/^ / && is_ls { objects++ }
		END { printf "ls: %d objects, %d access lines\n", objects, accesses
		      exit !(objects > 10 && accesses > 10) }' /tmp/kmap
	# Freed objects of every main allocator show up.
	for allocator in KMALLOC KMEM_CACHE PAGE; do
		grep -q ",$allocator," /tmp/kmap
	done
}

@test "a kmap read marks freed objects printed; clear_printed_list forgets only those" {
	echo 1 >$M/memorizer_enabled
	cat /proc/self/status >/dev/null
	cat $M/kmap >/tmp/kmap.1
	cleared=$(stat objects_cleared)
	printed=$(grep -c '^[0-9a-f]' /tmp/kmap.1 || true)
	echo 1 >$M/clear_printed_list
	[ "$(( $(stat objects_cleared) - cleared ))" -eq "$printed" ]
	echo 1 >$M/clear_dead_objs
	echo 0 >$M/memorizer_enabled
	echo 1 >$M/clear_dead_objs
	[ "$(stat objects_freed_not_cleared)" -lt 1000 ]
}

@test "print_live_obj 1 adds live objects, including globals" {
	echo 1 >$M/print_live_obj
	cat $M/kmap >/tmp/kmap.live
	check_kmap /tmp/kmap.live
	awk -F, '!/^#/ && !/^ / && $6 == 0 { live++ } END { exit !(live > 100) }' /tmp/kmap.live
	# A global is "allocated" at its own address, which names it.
	awk -F, '$8 == "GLOBAL" && $1 != $3 { print; exit 1 }' /tmp/kmap.live
	globals=$(awk -F, '$8 == "GLOBAL" { n++ } END { print n + 0 }' /tmp/kmap.live)
	[ "$globals" -gt 1000 ]
	# ... and kallsyms names variables at such addresses (string
	# literals, also registered by KASAN, have no symbol).
	awk -F, '$8 == "GLOBAL" { print $3 }' /tmp/kmap.live >/tmp/global-addrs
	named=$(awk 'NR == FNR { want[$1] = 1; next } ($1 in want) { n++ } END { print n + 0 }' \
		/tmp/global-addrs /proc/kallsyms)
	echo "$named of $globals globals are named in kallsyms"
	[ "$named" -gt 100 ]
}

@test "bad input to every control file is refused with EINVAL and changes nothing" {
	for file in memorizer_enabled memorizer_log_access print_live_obj; do
		before=$(cat $M/$file)
		for bad in 2 -1 10 11 yes on 0x1 ' 1' '1 ' '1\t' 'a'; do
			run bash -c "printf '%b' '$bad' >$M/$file"
			echo "$file <- '$bad': status $status, $output"
			[ "$status" -ne 0 ]
			[[ "$output" == *"Invalid argument"* ]]
			[ "$(cat $M/$file)" = "$before" ]
		done
	done
	for file in clear_dead_objs clear_printed_list; do
		cleared=$(stat objects_cleared)
		for bad in 0 2 -1 yes ' 1' 'a'; do
			run bash -c "printf '%b' '$bad' >$M/$file"
			echo "$file <- '$bad': status $status, $output"
			[ "$status" -ne 0 ]
			[[ "$output" == *"Invalid argument"* ]]
		done
		[ "$(stat objects_cleared)" -eq "$cleared" ]
	done
	run sh -c "echo 1 >$M/kmap"
	[ "$status" -ne 0 ]
}

@test "stats adds up: pool used plus free is the pool, counters are consistent" {
	echo 0 >$M/memorizer_enabled
	cat $M/stats >/tmp/stats
	cat /tmp/stats
	s=/tmp/stats
	[ "$(( $(stat pool_bytes_used $s) + $(stat pool_bytes_free $s) ))" -eq "$(stat pool_bytes_total $s)" ]
	[ "$(stat object_record_bytes $s)" -gt 0 ]
	[ "$(stat access_record_bytes $s)" -gt 0 ]
	[ "$(stat objects_live $s)" -gt 1000 ]
	[ "$(stat tracking $s)" -eq 0 ]
	[ "$(stat dropped_nmi_lock_busy $s)" -ge 0 ]
}
