#!/usr/bin/env bash
# Boot the Memorizer kernel in QEMU, run a job in the guest, collect results.
#
# The guest runs its own job (vm/initramfs/init) and reports through a 9p
# share; files it leaves in /tmp/fetch (the kmap) are copied out with scp
# and checked against the checksums the guest took.  The console is watched
# while the guest runs: a panic, oops, KASAN report, WARNING or lockdep
# splat stops the run at once and is quoted.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)

usage() {
	cat <<EOF
usage: vm/run.sh [options]

  --profile NAME    use a line of tests/guest/boots (smp, cmdline, tests)
  --name NAME       results go to out/vm/NAME (default: profile or "adhoc")
  --mode MODE       test (run bats files), demo (the seeds' simple test,
                    kmap copied out), shell (interactive console)
  --tests "A B"     bats files under tests/guest (mode test)
  --smp N           CPUs (default 2)
  --mem SIZE        guest memory (default 1G)
  --append "ARGS"   extra kernel command line
  --stall SEC       fail when the guest makes no progress (no state change,
                    no BATS or KUnit result) for SEC seconds; default: the
                    profile's step figure (tests/guest/boots) x the host's
                    slowdown (ci/host-speed.sh) x 3
  --step SEC        the step figure for a run without --profile (default 120)
  --timeout SEC     also a hard limit for the whole boot (default: none)
  --accel A         tcg (default), tcg-single (one host thread for all
                    vCPUs), kvm, or auto (kvm only if a probe boot with kvm
                    reaches userspace; the result is cached)
  --debug           start halted with a gdb stub on :1234 (implies shell)
  --kernel FILE     default \$KERNEL_OBJ/arch/x86/boot/bzImage, KERNEL_OBJ
                    defaulting to build/obj
  --initrd FILE     default build/initramfs.cpio.gz
EOF
}

profile= name= mode=test tests= smp=2 mem=1G append= timeout=0 stall= accel=tcg
# The longest a run may go without progress on the reference host, when no
# profile says: a boot to userspace, or one test (tests/guest/boots).
step=120
debug=0 accel_given=0
kobj=${KERNEL_OBJ:-$top/build/obj}
kernel=$kobj/arch/x86/boot/bzImage
initrd=$top/build/initramfs.cpio.gz
sysmap=$kobj/System.map

while [ $# -gt 0 ]; do
	case "$1" in
	--profile) profile=$2; shift ;;
	--name) name=$2; shift ;;
	--mode) mode=$2; shift ;;
	--tests) tests=$2; shift ;;
	--smp) smp=$2; shift ;;
	--mem) mem=$2; shift ;;
	--append) append=$2; shift ;;
	--step) step=$2; shift ;;
	--stall) stall=$2; shift ;;
	--timeout) timeout=$2; shift ;;
	--accel) accel=$2; accel_given=1; shift ;;
	--debug) debug=1; mode=shell ;;
	--kernel) kernel=$2; shift ;;
	--initrd) initrd=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 1 ;;
	esac
	shift
done

if [ -n "$profile" ]; then
	line=$(awk -v p="$profile" '$1 == p' "$top/tests/guest/boots")
	[ -n "$line" ] || { echo "vm/run.sh: no profile '$profile' in tests/guest/boots" >&2; exit 1; }
	read -r _ smp paccel step extra ptests <<<"$line"
	[ "$accel_given" = 1 ] || accel=$paccel
	[ "$extra" = - ] || append="$append ${extra//,/ }"
	tests=$ptests
	name=${name:-$profile}
fi
name=${name:-adhoc}
case "$mode" in test | demo | shell) ;; *) echo "vm/run.sh: bad --mode $mode" >&2; exit 1 ;; esac
case "$accel" in tcg | tcg-single | kvm | auto) ;; *) echo "vm/run.sh: bad --accel $accel" >&2; exit 1 ;; esac
for v in "step=$step" "stall=${stall:-1}" "timeout=$timeout"; do
	[[ "${v#*=}" =~ ^[0-9]+$ ]] || { echo "vm/run.sh: ${v%%=*} must be whole seconds, got '${v#*=}'" >&2; exit 1; }
done
[ "$step" -gt 0 ] && [ "${stall:-1}" -gt 0 ] ||
	{ echo "vm/run.sh: --step and --stall must be at least 1 s" >&2; exit 1; }

say() { printf '[vm %s] %s\n' "$name" "$*" >&2; }

outdir=$top/out/vm/$name
share=$outdir/share
console=$outdir/console.log
rm -rf "$outdir"
mkdir -p "$share"

for f in "$kernel" "$initrd"; do
	[ -f "$f" ] || { say "error: $f missing (make kernel initramfs)"; exit 1; }
done
cp "$kernel" "$outdir/bzImage"
[ -f "$sysmap" ] && cp "$sysmap" "$outdir/System.map"

# A key pair made for this run: the guest accepts only this run's key.
ssh-keygen -q -t ed25519 -N '' -C "memorizer-vm-$name" -f "$outdir/id_ed25519"
cp "$outdir/id_ed25519.pub" "$share/authorized_keys"
cat >"$share/job" <<EOF
MODE=$mode
TESTS="$tests"
WAIT_FOR_HOST=300
EOF

accel_args() {
	case "$1" in
	tcg) echo "-accel tcg" ;;
	# One host thread for all vCPUs: TCG then sees code patched by one
	# vCPU (kprobes' int3 removal) before any other vCPU runs again.
	tcg-single) echo "-accel tcg,thread=single" ;;
	kvm) echo "-accel kvm -cpu host" ;;
	esac
}

# KVM is used only when a short probe boot with it reaches userspace:
# nested KVM can hang, and a hung probe must not cost more than its timeout.
probe_kvm() {
	local cache=$top/build/kvm-probe dir pid state=
	[ -f "$cache" ] && { cat "$cache"; return; }
	[ -w /dev/kvm ] || { echo tcg | tee "$cache"; return; }
	dir=$(mktemp -d)
	mkdir "$dir/share"
	echo "MODE=probe WAIT_FOR_HOST=0" >"$dir/share/job"
	qemu-system-x86_64 -accel kvm -cpu host -m 512M -smp 1 -display none \
		-monitor none -serial file:"$dir/console" -no-reboot \
		-kernel "$kernel" -initrd "$initrd" -append "console=ttyS0 panic=-1" \
		-virtfs local,path="$dir/share",mount_tag=results,security_model=none,id=results \
		>/dev/null 2>&1 &
	pid=$!
	for _ in $(seq 1 40); do
		state=$(cat "$dir/share/state" 2>/dev/null || true)
		[ -n "$state" ] && break
		sleep 0.5
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -rf "$dir"
	if [ -n "$state" ]; then echo kvm; else echo tcg; fi | tee "$cache"
}

if [ "$accel" = auto ]; then
	accel=$(probe_kvm)
	say "accelerator: $accel (probe result cached in build/kvm-probe)"
fi

# How long the guest may go without progress.  A fixed total fails on a
# slow host and waits too long on a fast one; a step figure measured on the
# reference host, scaled by how much slower this host runs a fixed workload
# (ci/host-speed.sh; make test measures it once and exports HOST_SLOWDOWN),
# with a margin of 3, does neither.
margin=3
if [ -z "$stall" ]; then
	if [ -z "${HOST_SLOWDOWN:-}" ]; then
		eval "$("$top/ci/host-speed.sh" 2>/dev/null)"
	fi
	[[ "${HOST_SLOWDOWN:-}" =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
		{ say "error: HOST_SLOWDOWN='${HOST_SLOWDOWN:-}' is not a number"; exit 1; }
	stall=$(awk -v s="$step" -v f="$HOST_SLOWDOWN" -v m="$margin" 'BEGIN { x = s * f * m; printf "%d", x == int(x) ? x : int(x) + 1 }')
	stall_why="step $step s x host slowdown $HOST_SLOWDOWN x margin $margin"
else
	stall_why="--stall"
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Errors end the guest at once (panic, oops=panic, panic_on_warn, KASAN
# fault=panic; QEMU -no-reboot exits).  RCU's stall checks are stretched to
# their 300 s maximum: a KASAN kernel under TCG on a loaded host is slow
# enough to trip them; a real hang still ends at --timeout.  no_timer_check:
# a loaded host can delay the IO-APIC timer check into a false panic
# ("IO-APIC + timer doesn't work").  KUnit suites
# built into the kernel run only where a profile asks (kunit.enable=1).
cmdline="console=ttyS0 panic=-1 oops=panic panic_on_warn=1 kasan.fault=panic no_hash_pointers loglevel=7 rcupdate.rcu_cpu_stall_timeout=300 no_timer_check kunit.enable=0 $append"
# q35: its ACPI tables route PCI interrupts statically; the i440fx
# machine's _PRT method loops long enough under TCG to time out in AML.
qemu=(qemu-system-x86_64 -machine q35 $(accel_args "$accel") -m "$mem" -smp "$smp"
	-no-reboot -kernel "$outdir/bzImage" -initrd "$initrd" -append "$cmdline"
	-netdev "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:22"
	-device virtio-net-pci,netdev=net0
	-virtfs "local,path=$share,mount_tag=results,security_model=none,id=results")

if [ "$mode" = shell ]; then
	if [ "$debug" = 1 ]; then
		qemu+=(-s -S)
		say "halted for gdb; in another terminal run:"
		say "  gdb -ex 'target remote :1234' $kobj/vmlinux"
	fi
	say "interactive guest (ssh: ssh -p $port -i $outdir/id_ed25519 root@127.0.0.1); exit the shell to power off"
	exec "${qemu[@]}" -nographic
fi

# Lines that mean the kernel is broken.  The guest also panics on oops,
# WARN and KASAN reports, so most of these end the boot within a second.
fatal_re='Kernel panic - not syncing|BUG: |Oops|WARNING: |general protection fault|UBSAN: |possible recursive locking|possible circular locking|inconsistent lock state|INFO: task .* blocked'

ssh_opts=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
	-o LogLevel=ERROR -o ConnectTimeout=20 -o BatchMode=yes -i "$outdir/id_ed25519")

failures=()
checks_passed=0
fail() { failures+=("$1"); say "FAIL: $1"; }
pass() { checks_passed=$((checks_passed + 1)); }

# Copy every file the guest left in /tmp/fetch, the way a user does, and
# prove each copy byte-identical to what the guest read.
fetch_files() {
	local f want have
	[ -s "$share/fetch.list" ] || return 0
	while read -r f; do
		if ! scp -O -q -P "$port" "${ssh_opts[@]}" "root@127.0.0.1:/tmp/fetch/$f" "$outdir/$f" </dev/null; then
			fail "scp of /tmp/fetch/$f from the guest failed"
			continue
		fi
		want=$(awk -v f="$f" '$2 == f { print $1 }' "$share/fetch.sha256")
		have=$(sha256sum "$outdir/$f" | cut -d' ' -f1)
		if [ "$want" = "$have" ]; then
			say "copied $f with scp ($(wc -c <"$outdir/$f") bytes, sha256 matches the guest's)"
			pass
		else
			fail "$f copied by scp differs from the guest's (sha256 $have, guest $want)"
		fi
	done <"$share/fetch.list"
}

say "booting: smp=$smp mem=$mem accel=$accel mode=$mode tests='$tests'"
start=$(date +%s)
# The monitor socket lets a timed-out run say where each vCPU was.
monitor=$outdir/monitor.sock
rm -f "$monitor"
"${qemu[@]}" -display none -monitor unix:"$monitor",server=on,wait=off -serial file:"$console" </dev/null \
	>"$outdir/qemu.log" 2>&1 &
qemu_pid=$!
trap 'kill -9 $qemu_pid 2>/dev/null || true' EXIT

# progress_mark: what the guest has done so far.  It changes when the
# guest's state changes (booted, done), when a BATS test reports, and when a
# KUnit case reports on the console at boot.
progress_mark() {
	local tap kunit
	tap=$(grep -cE '^(not )?ok ' "$share/results.tap" 2>/dev/null) || tap=0
	kunit=$(grep -cE '^ +(not )?ok [0-9]+ ' "$console" 2>/dev/null) || kunit=0
	echo "$(cat "$share/state" 2>/dev/null || true)/$tap/$kunit"
}

hard_limit=
[ "$timeout" -eq 0 ] || hard_limit="; at most $timeout s in all"
say "limits: no progress for $stall s ($stall_why)$hard_limit"
fetched=0 booted=0 verdict= mark=$(progress_mark) last_progress=$start longest_step=0 longest_at=boot
while kill -0 "$qemu_pid" 2>/dev/null; do
	now=$(date +%s)
	elapsed=$((now - start))
	if grep -qE "$fatal_re" "$console" 2>/dev/null; then
		sleep 1 # let the rest of the report reach the log
		verdict="kernel error on the console after ${elapsed} s"
		break
	fi
	new_mark=$(progress_mark)
	if [ "$new_mark" != "$mark" ]; then
		if [ $((now - last_progress)) -gt "$longest_step" ]; then
			longest_step=$((now - last_progress))
			longest_at=$(tail -n1 "$share/results.tap" 2>/dev/null | cut -c1-120) || true
			[ -n "$longest_at" ] || longest_at="state ${new_mark%%/*}"
			[ "$longest_at" != "state " ] || longest_at="KUnit at boot"
		fi
		mark=$new_mark last_progress=$now
	fi
	state=$(cat "$share/state" 2>/dev/null || true)
	if [ "$booted" = 0 ] && [ -n "$state" ]; then
		booted=1
		say "guest userspace up after ${elapsed} s"
	fi
	if [ "$state" = done ] && [ "$fetched" = 0 ]; then
		fetched=1
		fetch_files
		touch "$share/host-done"
		# The copies are the host's work, not a guest that stopped.
		last_progress=$(date +%s)
	fi
	stalled=$((now - last_progress))
	if [ "$stalled" -ge "$stall" ] || { [ "$timeout" -gt 0 ] && [ "$elapsed" -ge "$timeout" ]; }; then
		if [ "$stalled" -ge "$stall" ]; then
			verdict="no progress for ${stalled} s, after ${elapsed} s in all (state: ${state:-none}; limit $stall s: $stall_why)"
		else
			verdict="timeout after ${timeout} s (state: ${state:-none})"
		fi
		if python3 "$top/vm/hung-cpus.py" "$monitor" "$outdir/System.map" >"$outdir/hung-cpus.txt" 2>&1; then
			say "where each vCPU was when it was stopped ($outdir/hung-cpus.txt):"
			head -n 80 "$outdir/hung-cpus.txt" | sed 's/^/    | /' >&2
		fi
		break
	fi
	sleep 0.5
done
kill -9 "$qemu_pid" 2>/dev/null || true
wait "$qemu_pid" 2>/dev/null || true
trap - EXIT
elapsed=$(($(date +%s) - start))

if [ -n "$verdict" ]; then
	fail "$verdict"
	grep -nE -B2 -A25 "$fatal_re" "$console" | head -n 60 | sed 's/^/    | /' >&2 || true
elif grep -qE "$fatal_re" "$console"; then
	fail "kernel error on the console"
	grep -nE -B2 -A25 "$fatal_re" "$console" | head -n 60 | sed 's/^/    | /' >&2
elif [ "$(cat "$share/state" 2>/dev/null)" != done ]; then
	fail "guest stopped before finishing its job (state: $(cat "$share/state" 2>/dev/null || echo none))"
	tail -n 30 "$console" | sed 's/^/    | /' >&2
else
	pass
fi

# In-guest BATS results (TAP).
bats_passed=0 bats_failed=0
if [ "$mode" = test ]; then
	cp "$share/results.tap" "$outdir/results.tap" 2>/dev/null || true
	if [ ! -s "$outdir/results.tap" ]; then
		fail "no TAP results from the guest"
		cat "$share/bats.stderr" 2>/dev/null | head -n 20 | sed 's/^/    | /' >&2 || true
	else
		bats_passed=$(grep -c '^ok ' "$outdir/results.tap" || true)
		bats_failed=$(grep -c '^not ok ' "$outdir/results.tap" || true)
		plan=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$outdir/results.tap" | head -n1)
		if [ "$bats_failed" -gt 0 ]; then
			grep -A12 '^not ok ' "$outdir/results.tap" | sed 's/^/    | /' >&2
		fi
		if [ -n "$plan" ] && [ $((bats_passed + bats_failed)) -ne "$plan" ]; then
			fail "TAP plan says $plan tests, guest reported $((bats_passed + bats_failed))"
		fi
	fi
fi
if [ "$mode" = demo ]; then
	cp "$share/workload.log" "$outdir/" 2>/dev/null || true
	if [ "$(cat "$share/workload.rc" 2>/dev/null)" != 0 ]; then
		fail "the traced workload failed in the guest (see $outdir/workload.log)"
		tail -n 20 "$outdir/workload.log" 2>/dev/null | sed 's/^/    | /' >&2 || true
	elif [ ! -s "$outdir/kmap" ]; then
		fail "no kmap was copied out of the guest"
	fi
fi

# KUnit suites that ran at boot print KTAP on the console.
"$top/vm/ktap-extract.sh" <"$console" >"$outdir/kunit.tap"
kunit_passed=$(grep -cE '^    ok [0-9]+ ' "$outdir/kunit.tap" || true)
kunit_failed=$(grep -cE '^    not ok [0-9]+ ' "$outdir/kunit.tap" || true)
if [[ " $append " == *" kunit.enable=1 "* ]] && [ "$kunit_passed" -eq 0 ] && [ "$kunit_failed" -eq 0 ]; then
	fail "kunit.enable=1 but no KUnit test case reported on the console"
fi
if [ "$kunit_failed" -gt 0 ]; then
	grep -E '^    not ok ' "$outdir/kunit.tap" | sed 's/^/    | kunit: /' >&2
fi

passed=$((checks_passed + bats_passed + kunit_passed))
failed=$((${#failures[@]} + bats_failed + kunit_failed))
# The longest wait for progress against its limit: the margin that a
# slower host would eat into first.
printf 'longest_step=%s stall=%s elapsed=%s\n' "$longest_step" "$stall" "$elapsed" >"$outdir/limits"
# make test collects every boot's figures for its summary.
[ -z "${VM_LIMITS_LOG:-}" ] ||
	printf '%s %s %s %s %s\n' "$name" "$longest_step" "$stall" "$elapsed" "${longest_at// /_}" >>"$VM_LIMITS_LOG"
say "longest step ${longest_step} s (before: ${longest_at}) of the $stall s limit"
say "finished in ${elapsed} s: bats $bats_passed/$((bats_passed + bats_failed)), kunit $kunit_passed/$((kunit_passed + kunit_failed)), harness checks $checks_passed/$((checks_passed + ${#failures[@]})); results in ${outdir#$top/}"
printf '%s\n' "${failures[@]}" >"$outdir/failures"

echo "vm-$name: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
