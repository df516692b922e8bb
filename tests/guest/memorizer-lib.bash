# Shared by the Memorizer guest tests (memorizer.bats, memorizer-smp.bats).
#
# Every test leaves tracking and access logging as it found them.  The kmap
# format is checked line by line: object lines
#   alloc_ip,alloc_pid,va,size,alloc_jiffies,free_jiffies,free_ip,allocator,comm,slab_cache
# and access lines "  access_ip,access_pid,writes,reads".

M=/sys/kernel/debug/memorizer
OBJECT_RE='^[0-9a-f]+,[0-9]+,[0-9a-f]+,[0-9]+,[0-9]+,[0-9]+,[0-9a-f]+,(KMALLOC|KMEM_CACHE|KMALLOC_LARGE|PAGE|GLOBAL),[^,[:space:]]+,[^,[:space:]]+$'
ACCESS_RE='^  [0-9a-f]+,[0-9]+,[0-9]+,[0-9]+$'

setup() {
	saved_enabled=$(cat $M/memorizer_enabled)
	saved_logging=$(cat $M/memorizer_log_access)
	saved_live=$(cat $M/print_live_obj)
}

teardown() {
	# A failed concurrency test must not leave its loaders running.
	[ -z "${loaders:-}" ] || kill $loaders 2>/dev/null || true
	echo "$saved_logging" >$M/memorizer_log_access
	echo "$saved_enabled" >$M/memorizer_enabled
	echo "$saved_live" >$M/print_live_obj
}

# stat NAME [FILE]: one line of stats (of a saved copy, for consistency)
stat() {
	awk -v key="$1:" '$1 == key { print $2 }' "${2:-$M/stats}"
}

# check_kmap FILE: the header, then object lines and access lines only,
# the first of them an object line (so every access line follows one).
# grep, not an awk loop: kmaps run to 100k lines and this is TCG.
check_kmap() {
	local bad
	head -n 1 "$1" | grep -qx '# memorizer kmap v1'
	bad=$(tail -n +2 "$1" | grep -Evn -e "$OBJECT_RE" -e "$ACCESS_RE" | head -n 3)
	if [ -n "$bad" ]; then
		echo "$1: malformed lines (numbered after the header):"
		echo "$bad"
		return 1
	fi
	if [ "$(wc -l <"$1")" -gt 1 ]; then
		sed -n 2p "$1" | grep -Eq "$OBJECT_RE"
	fi
}

# check_boot_parameters: memorizer_enabled_boot= and memalloc_size= of
# this boot's command line (or their defaults) took effect.
check_boot_parameters() {
	cmdline=$(cat /proc/cmdline)
	case " $cmdline " in
	*" memorizer_enabled_boot=no "*)
		dmesg | grep -q 'memorizer: initialized, tracking off at boot' ;;
	*)
		dmesg | grep -q 'memorizer: initialized, tracking on at boot' ;;
	esac
	size=$(echo "$cmdline" | tr ' ' '\n' | sed -n 's/^memalloc_size=//p')
	case "$size" in
	"") [ "$(stat pool_bytes_total)" -eq $((64 << 20)) ] ;;
	*M) [ "$(stat pool_bytes_total)" -eq $((${size%M} << 20)) ] ;;
	# N GiB: more than this guest can spare is cut to a quarter of it.
	*[0-9]) [ "$(stat pool_bytes_total)" -eq $((size << 30)) ] ||
		dmesg | grep -q "memorizer: memalloc_size of $((size << 10)) MiB exceeds a quarter of memory" ;;
	esac
}

# start_loaders: one allocating loop per other CPU (fork, exec, files,
# pipes), in the background; their PIDs in $loaders.  The rounds are
# shared out so that the work, and the records, stay the same with more
# CPUs: under TCG, -smp 4 on a 2-core host runs each vCPU at half speed,
# and spins on locks whose holder is descheduled.
start_loaders() {
	local n i
	n=$(( $(nproc) - 1 ))
	[ "$n" -ge 1 ]
	loaders=
	for i in $(seq "$n"); do
		(for j in $(seq $(( 60 / n + 1 ))); do
			ls -l /proc/self/ >/dev/null
			echo "$i" >/tmp/load.$i && cat /tmp/load.$i | wc -c >/dev/null
			rm -f /tmp/load.$i
		done) &
		loaders="$loaders $!"
	done
}
