#!/usr/bin/env bash
# Boot the mkosi-built Debian tree (build/mkosi/image) with the project's
# kernel, log in over ssh, run the seeds' Memorizer test and scp the kmap out.
#
# `mkosi qemu` cannot do this with mkosi 14: it refuses Format=directory
# ("Sorry, can't boot non-disk images with qemu") and boots disk images only
# with the kernel it installed itself (see Documentation/mkosi.rst).  Our
# kernel has no block drivers, so the tree is handed to it as a 9p root:
#   -virtfs local,path=IMAGE,mount_tag=root,security_model=passthrough
#   root=root rootfstype=9p rootflags=trans=virtio,...
# (init/do_mounts.c: with root= naming no block device and rootfstype= a
# nodev file system, the kernel mounts root= as that file system's source,
# i.e. the 9p mount tag).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)

usage() {
	cat <<EOF
usage: vm/mkosi/boot.sh [options]

  --mode MODE     seed (default): boot, ssh in, run the seeds' test when the
                  kernel has Memorizer, scp /tmp/kmap to out/mkosi/, power off
                  check: boot, ssh in, scp a file the guest made, power off
                  (for kernels without Memorizer)
                  ssh: boot and wait; prints the ssh/scp commands; Ctrl-C
                  (or \`ssh ... poweroff\`) ends it
                  console: serial console on this terminal (Ctrl-A X quits)
  --image DIR     default build/mkosi/image (vm/mkosi/build.sh)
  --kernel FILE   default build/obj/arch/x86/boot/bzImage
  --smp N         CPUs (default 1, as the seeds boot Memorizer)
  --mem SIZE      guest memory (default 2G)
  --append ARGS   extra kernel command line
  --port N        host port for ssh on 127.0.0.1 (default: a free one)
  --timeout SEC   limit for reaching ssh (default 1800: 926 s were seen under TCG
                  on 2 busy cores)
EOF
}

mode=seed image=$top/build/mkosi/image kernel=$top/build/obj/arch/x86/boot/bzImage
smp=1 mem=2G append= port= timeout=1800
while [ $# -gt 0 ]; do
	case "$1" in
	--mode) mode=$2; shift ;;
	--image) image=$2; shift ;;
	--kernel) kernel=$2; shift ;;
	--smp) smp=$2; shift ;;
	--mem) mem=$2; shift ;;
	--append) append=$2; shift ;;
	--port) port=$2; shift ;;
	--timeout) timeout=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 1 ;;
	esac
	shift
done
case "$mode" in seed | check | ssh | console) ;; *) usage >&2; exit 1 ;; esac

say() { printf '[mkosi-boot] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[ -f "$kernel" ] || die "kernel $kernel missing (make kernel)"
[ -x "$image/lib/systemd/systemd" ] ||
	die "no systemd in $image: build the tree first (vm/mkosi/build.sh, as root)"
# passthrough: the guest sees the tree's real owners and modes (root-owned
# files, 0600 host keys), which needs a root QEMU on the host.
[ "$(id -u)" = 0 ] || die "the 9p root uses security_model=passthrough, run as root"

# One user of the tree at a time: a second boot or a rebuild would share
# its files (and this run's key) with the running guest.
mkdir -p "$top/build/mkosi"
exec 9>"$top/build/mkosi/lock"
flock -n 9 || die "build/mkosi is in use by another vm/mkosi/boot.sh or build.sh"

run=$top/build/mkosi/run
out=$top/out/mkosi
rm -rf "$run"
mkdir -p "$run" "$out"
console=$run/console.log
# A private copy: a kernel rebuild during the boot must not change it.
cp "$kernel" "$run/bzImage"
kernel=$run/bzImage

# A key pair made for this run only; its public half is the only key root
# accepts.  Nothing private is kept in the repository.
ssh-keygen -q -t ed25519 -N '' -C "memorizer-mkosi-run" -f "$run/id_ed25519"
install -d -m 700 "$image/root/.ssh"
install -m 600 "$run/id_ed25519.pub" "$image/root/.ssh/authorized_keys"

if [ -z "$port" ]; then
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi

# cache=loose: only this guest writes the tree while it runs, and journald
# needs shared writable mmap, which 9p offers only with a cache mode.
cmdline="console=ttyS0 root=root rootfstype=9p rootflags=trans=virtio,version=9p2000.L,msize=262144,cache=loose"
cmdline+=" rw init=/lib/systemd/systemd panic=-1 no_hash_pointers loglevel=6"
# As the seeds boot it: Memorizer off until the test turns it on through
# debugfs (tracking all of systemd's start under TCG takes many minutes and
# fills the pool).  No KUnit at boot: vm/run.sh runs the suites.
cmdline+=" memorizer_enabled_boot=no kunit.enable=0"
# The kernel evaluates the PCI _PRT of QEMU's i440fx ACPI tables once per
# virtio device; under TCG with KASAN each runs into ACPICA's 30 s loop
# timeout (AE_AML_LOOP_TIMEOUT, 90 s of boot).  The devices use MSI-X anyway.
cmdline+=" pci=noacpi"
# Under TCG on a loaded host a vCPU can go seconds without running; the
# default 21 s RCU stall timeout then WARNs about a stall that is only the
# emulator's (seen here at 70 s into a boot while kernels were compiling).
cmdline+=" rcupdate.rcu_cpu_stall_timeout=300 systemd.show_status=1"
# udev needs minutes for coldplug under TCG; the default 90 s device timeout
# would fail the serial getty (dev-ttyS0.device).
cmdline+=" systemd.default_device_timeout_sec=600 $append"

qemu=(qemu-system-x86_64 -accel tcg -cpu max -m "$mem" -smp "$smp" -no-reboot
	-kernel "$kernel" -append "$cmdline"
	-virtfs "local,path=$image,mount_tag=root,security_model=passthrough,id=root"
	-netdev "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:22"
	-device virtio-net-pci,netdev=net0
	-object rng-random,filename=/dev/urandom,id=rng0
	-device virtio-rng-pci,rng=rng0)

ssh_opts=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
	-o LogLevel=ERROR -o ConnectTimeout=30 -o BatchMode=yes -i "$run/id_ed25519")
guest_ssh() { ssh -p "$port" "${ssh_opts[@]}" root@127.0.0.1 "$@"; }

if [ "$mode" = console ]; then
	say "ssh from another terminal: ssh -p $port -i $run/id_ed25519 root@127.0.0.1"
	exec "${qemu[@]}" -nographic
fi

# Lines that mean the kernel is broken (same list as vm/run.sh).
fatal_re='Kernel panic - not syncing|BUG: |Oops|WARNING: |general protection fault|UBSAN: |possible recursive locking|possible circular locking|inconsistent lock state'

say "booting $(basename "$kernel") with ${image#$top/} as 9p root: smp=$smp mem=$mem, ssh on 127.0.0.1:$port"
start=$(date +%s)
"${qemu[@]}" -display none -monitor none -serial file:"$console" </dev/null \
	>"$run/qemu.log" 2>&1 &
qemu_pid=$!
echo "$qemu_pid" >"$run/qemu.pid"
trap 'kill -9 $qemu_pid 2>/dev/null || true' EXIT

elapsed() { echo $(($(date +%s) - start)); }
stopped() {
	say "console tail:"
	tail -n 40 "$console" | sed 's/^/    | /' >&2
	exit 1
}

# Wait for sshd: poll with short ssh attempts; give up at once if QEMU
# exits (a panic ends it: panic=-1 with -no-reboot), and after a kernel
# error once the console has been silent for 120 s (a lockdep-predicted
# deadlock that happened).  A kernel error that the guest survives (a WARN,
# a lockdep or KASAN report) fails the run at the end, but the kmap is still
# collected: it is evidence.
quiet_since=$(date +%s) last_size=0
until guest_ssh -o ConnectTimeout=10 true </dev/null 2>/dev/null; do
	kill -0 "$qemu_pid" 2>/dev/null || { say "QEMU exited after $(elapsed) s before ssh came up"; stopped; }
	[ "$(elapsed)" -lt "$timeout" ] || { say "no ssh after $timeout s"; stopped; }
	size=$(stat -c %s "$console" 2>/dev/null || echo 0)
	if [ "$size" != "$last_size" ]; then
		last_size=$size quiet_since=$(date +%s)
	elif [ $(($(date +%s) - quiet_since)) -ge 120 ] && grep -qE "$fatal_re" "$console"; then
		say "kernel error on the console, then 120 s of silence: giving up after $(elapsed) s"
		grep -nE -A20 "$fatal_re" "$console" | head -n 40 | sed 's/^/    | /' >&2
		exit 1
	fi
	sleep 5
done
boot_s=$(elapsed)
say "ssh up after $boot_s s"

if [ "$mode" = ssh ]; then
	say "log in:   ssh -p $port -i $run/id_ed25519 root@127.0.0.1"
	say "copy out: scp -P $port -i $run/id_ed25519 root@127.0.0.1:/tmp/kmap out/mkosi/"
	say "power off with: ssh ... poweroff (or Ctrl-C here)"
	wait "$qemu_pid" || true
	trap - EXIT
	exit 0
fi

# What the guest is: kernel, init, system state (degraded units are listed,
# not fatal: some units need kernel features the small config leaves out).
guest_ssh 'uname -a; echo "pid 1: $(cat /proc/1/comm)"; findmnt -n -o SOURCE,FSTYPE,OPTIONS /;
	echo "system: $(systemctl is-system-running)"; systemctl --failed --no-legend --plain' \
	</dev/null | tee "$out/guest-info.txt" >&2

# Copy a guest file to the host with scp, the way a user does, and prove the
# copy byte-identical to what the guest has.
fetch() {
	local from=$1 to=$2 want have
	want=$(guest_ssh sha256sum "$from" </dev/null | cut -d' ' -f1)
	rm -f "$to"
	scp -q -P "$port" "${ssh_opts[@]}" "root@127.0.0.1:$from" "$to" </dev/null || {
		say "scp of $from failed"
		return 1
	}
	have=$(sha256sum "$to" | cut -d' ' -f1)
	if [ -z "$want" ] || [ "$want" != "$have" ]; then
		say "${to#$top/} (sha256 $have) differs from the guest's $from (${want:-no checksum})"
		return 1
	fi
	say "scp'd $from to ${to#$top/}: $(wc -c <"$to") bytes, sha256 matches the guest's"
}

status=0
case "$mode" in
check)
	# Prove the whole path without Memorizer: a file made in the guest.
	guest_ssh 'cat /proc/version /etc/os-release > /tmp/guest-check' </dev/null &&
		fetch /tmp/guest-check "$out/guest-check" || status=1
	;;
seed)
	if guest_ssh test -d /sys/kernel/debug/memorizer </dev/null; then
		# The seeds' simple test, the same script the busybox guest runs
		# (vm/initramfs/workload-simple.sh), then the kmap to /tmp.
		guest_ssh sh -s /tmp/kmap <"$top/vm/initramfs/workload-simple.sh" \
			>"$run/seed-test.log" 2>&1 || status=$?
		cp "$run/seed-test.log" "$out/seed-test.log"
		if [ "$status" != 0 ]; then
			say "the seeds' test failed in the guest (rc $status):"
			sed 's/^/    | /' "$run/seed-test.log" >&2
		else
			fetch /tmp/kmap "$out/kmap" || status=1
			[ "$status" != 0 ] || say "kmap: $(grep -c '^[^[:space:]]' "$out/kmap") objects, $(grep -c '^[[:space:]]' "$out/kmap") access lines"
		fi
	else
		say "this kernel has no /sys/kernel/debug/memorizer (not a Memorizer build);"
		say "the seeds' test cannot run: use --mode check to boot it anyway"
		status=1
	fi
	;;
esac

# Power off cleanly so the tree is left consistent; kill QEMU if it hangs.
guest_ssh 'systemctl poweroff' </dev/null >/dev/null 2>&1 || true
for _ in $(seq 1 120); do
	kill -0 "$qemu_pid" 2>/dev/null || break
	sleep 1
done
if kill -0 "$qemu_pid" 2>/dev/null; then
	say "guest did not power off in 120 s; killing QEMU"
	kill -9 "$qemu_pid"
fi
wait "$qemu_pid" 2>/dev/null || true
trap - EXIT
cp "$console" "$out/console.log"
if grep -qE "$fatal_re" "$console"; then
	say "kernel error on the console:"
	grep -nE -A20 "$fatal_re" "$console" | head -n 40 | sed 's/^/    | /' >&2
	status=1
fi
say "done in $(elapsed) s (ssh up after $boot_s s); console in out/mkosi/console.log"
exit "$status"
