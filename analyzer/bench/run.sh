#!/bin/bash
# Benchmarks capmap on a generated multi-gigabyte kmap, beside `wc -l` on the
# same file in the same run (not part of make test).
#
# usage: bench/run.sh [SIZE [DIR]]     SIZE like 5G (default), DIR default /tmp
#   CAPMAP_BUILD=DIR   where capmap and capmap-gen are (default build/analyzer/release)
#   CAPMAP_KEEP=1      keep the generated file
#   CAPMAP_STREAM=1    generate a stream file (.mzs) instead, convert it to a
#                      kmap, and time summary on both (MB/s of each file)
#
# Prints, per command: wall seconds, CPU seconds (user+sys), MB/s and lines/s
# of wall time, MB/s per CPU-second, and peak RSS (from /usr/bin/time -v).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
size=${1:-5G}
dir=${2:-/tmp}
build=${CAPMAP_BUILD:-$here/../build/analyzer/release}
capmap=$build/capmap
gen=$build/capmap-gen
file=$dir/capmap-bench-$$.kmap
[ -x "$capmap" ] && [ -x "$gen" ] || { echo "build the release preset first: $capmap" >&2; exit 1; }
[ "${CAPMAP_KEEP:-0}" = 1 ] || trap 'rm -f "$file" "$file.mzs"' EXIT

echo "host: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
echo "load before: $(uptime | sed 's/.*load average/load average/')"
if [ "${CAPMAP_STREAM:-0}" = 1 ]; then
	echo "generating $size stream: $gen --format stream --size $size --seed 42; capmap convert"
	"$gen" --format stream --size "$size" --seed 42 -o "$file.mzs"
	"$capmap" convert --no-progress -o "$file" "$file.mzs"
	cat "$file.mzs" >/dev/null
else
	echo "generating $size kmap: $gen --size $size --seed 42"
	"$gen" --size "$size" --seed 42 -o "$file"
fi
bytes=$(stat -c %s "$file")
cat "$file" >/dev/null # warm page cache
lines=$(wc -l <"$file")
echo "file: $file, $bytes bytes, $lines lines"
echo

printf '%-34s %8s %8s %10s %12s %12s %10s\n' command wall_s cpu_s MB/s lines/s MB/cpu_s peak_RSS_MB
measure() {
	local label=$1 bytes=$bytes
	shift
	case $label in *stream*) bytes=$(stat -c %s "$file.mzs") ;; esac
	local log
	log=$(mktemp)
	/usr/bin/time -v -o "$log" "$@" >/dev/null
	local wall user sys rss
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$log")
	user=$(awk -F': ' '/User time/ {print $2}' "$log")
	sys=$(awk -F': ' '/System time/ {print $2}' "$log")
	rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
	rm -f "$log"
	awk -v l="$label" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v b="$bytes" -v n="$lines" 'BEGIN {
		c = u + s; if (w <= 0) w = 0.01; if (c <= 0) c = 0.01;
		printf "%-34s %8.2f %8.2f %10.0f %12.0f %12.0f %10.1f\n", l, w, c, b / w / 1e6, n / w, b / c / 1e6, r / 1024 }'
}

if [ "${CAPMAP_STREAM:-0}" = 1 ]; then
	echo "stream file: $file.mzs, $(stat -c %s "$file.mzs") bytes (MB/s below: of the file each command reads)"
	for round in 1 2 3; do
		measure "capmap summary (kmap)" "$capmap" summary --no-progress "$file"
		measure "capmap summary (stream)" "$capmap" summary --no-progress "$file.mzs"
		measure "capmap summary -j1 (kmap)" "$capmap" summary --no-progress -j1 "$file"
		measure "capmap summary -j1 (stream)" "$capmap" summary --no-progress -j1 "$file.mzs"
	done
	echo
	echo "load after: $(uptime | sed 's/.*load average/load average/')"
	exit 0
fi

for round in 1 2; do
	measure "wc -l" wc -l "$file"
	measure "capmap summary" "$capmap" summary --no-progress "$file"
	measure "capmap summary -j1" "$capmap" summary --no-progress -j1 "$file"
	measure "capmap summary --no-mmap" "$capmap" summary --no-progress --no-mmap "$file"
	if [ "$round" = 1 ]; then
		measure "capmap graph --objects cache" "$capmap" graph --no-progress --format csv --objects cache "$file"
		measure "capmap graph --objects site" "$capmap" graph --no-progress --format csv "$file"
		echo "(second round)"
	fi
done
echo
echo "load after: $(uptime | sed 's/.*load average/load average/')"
