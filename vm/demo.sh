#!/usr/bin/env bash
# The main job: boot the Memorizer guest, run the seeds' simple test
# (trace `ls -l` with access logging), copy the kmap out with scp, and
# summarize it with capmap.  Results: out/kmap, out/System.map, out/summary.txt.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
capmap=${CAPMAP:-$top/build/analyzer/release/capmap}
out=$top/out

say() { printf '[demo] %s\n' "$*" >&2; }

say "booting the guest and tracing 'ls -l' (about a minute under TCG)"
"$top/vm/run.sh" --mode demo --name demo "$@"

cp "$out/vm/demo/kmap" "$out/kmap"
cp "$out/vm/demo/System.map" "$out/System.map"
say "kmap: $out/kmap ($(wc -l <"$out/kmap") lines); symbols: $out/System.map"

say "summarizing with capmap"
"$capmap" summary --symbols "$out/System.map" "$out/kmap" | tee "$out/summary.txt"
say "wrote $out/kmap, $out/System.map and $out/summary.txt"
