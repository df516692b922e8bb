# SCRATCH (memorizer-stream helper): shared by scratch-reader-*.bats; delete when done.
load memorizer-lib

S=$M/stream

setup_file() {
	# Test-only shim: makes the cpuN files mmap()able (kernel bug).
	if [ -f /lib/modules-memorizer/memshim.ko ] && ! grep -q memshim /proc/modules; then
		insmod /lib/modules-memorizer/memshim.ko
	fi
}

wait_enabled() {
	local i
	for i in $(seq 100); do
		[ "$(cat $S/enabled)" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

workload() {
	local i
	for i in $(seq "$1"); do ls -l / >/dev/null; done
}

tracking_on() {
	echo 1 >$M/memorizer_enabled
	echo 1 >$M/memorizer_log_access
}

# save NAME: stats, dropped and subbufs_state into /tmp/fetch
save() {
	cp $M/stats /tmp/fetch/$1.stats
	cat $S/dropped >/tmp/fetch/$1.dropped
	cat $S/subbufs_state >/tmp/fetch/$1.state 2>/dev/null || true
}
