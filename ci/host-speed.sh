#!/usr/bin/env bash
# Measure how fast this host runs a fixed CPU workload, so that the test
# harness can scale its limits to the host instead of trusting figures
# taken on another one.
#
# One worker per online CPU runs the same pure-integer Python loop at once;
# the round's time is the slowest worker's.  Running one per CPU makes the
# figure see every core, so a host whose second core is taken by somebody
# else's job measures slower, as its two-vCPU guests will run.  The median
# of three rounds is kept.
#
# Output, one line on stdout, also written to build/host-speed:
#   HOST_SLOWDOWN=1.23 HOST_SPEED_SECONDS=2.46 HOST_SPEED_CPUS=2
# HOST_SLOWDOWN is the time against the reference (HOST_SPEED_REFERENCE,
# the host where the harness's step figures in tests/guest/boots were
# measured): 2.00 means the workload took twice as long here.  It is never
# below 1: a faster host keeps the reference limits.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
# Seconds the workload took on the reference host (2 vCPUs, AMD EPYC,
# quiet: 1.28 to 1.37 s in eight runs), the same host as the step figures
# in tests/guest/boots.
reference=${HOST_SPEED_REFERENCE:-1.30}
loops=${HOST_SPEED_LOOPS:-12000000}
cpus=$(nproc)
# Debian's interpreter, not whichever python3 comes first on PATH: another
# build runs the loop at another speed, and a wrapper (pyenv's shims) that
# starts while the other workers already run makes the figure vary by a
# third from one run to the next.
python=/usr/bin/python3
[ -x "$python" ] || python=python3

workload='
import sys, time
n = int(sys.argv[1])
t = time.perf_counter()
x = 0
for i in range(n):
    x = (x * 1103515245 + i) & 0xFFFFFFFF
print(time.perf_counter() - t)
'

round_seconds() {
	local i pids=() out slowest
	out=$(mktemp)
	for ((i = 0; i < cpus; i++)); do
		"$python" -c "$workload" "$loops" >>"$out" &
		pids+=($!)
	done
	wait "${pids[@]}"
	slowest=$(sort -g "$out" | tail -n1)
	rm -f "$out"
	echo "$slowest"
}

rounds=()
for _ in 1 2 3; do
	rounds+=("$(round_seconds)")
done
median=$(printf '%s\n' "${rounds[@]}" | sort -g | sed -n 2p)
line=$(awk -v m="$median" -v r="$reference" -v c="$cpus" 'BEGIN {
	s = m / r; if (s < 1) s = 1
	printf "HOST_SLOWDOWN=%.2f HOST_SPEED_SECONDS=%.2f HOST_SPEED_CPUS=%d\n", s, m, c
}')
mkdir -p "$top/build"
echo "$line" >"$top/build/host-speed"
echo "$line"
echo "host-speed: rounds ${rounds[*]} s, median $median s, reference $reference s" >&2
