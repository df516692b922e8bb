#!/bin/sh
# The seeds' "simple test": trace `ls -l` with access logging, then read the
# kmap of what it allocated, accessed and freed.  Usage: workload-simple.sh OUT
set -e
out=${1:?usage: workload-simple.sh OUTPUT-FILE}
mkdir -p "$(dirname "$out")"

cd /sys/kernel/debug/memorizer
echo 1 > clear_dead_objs
cp kmap /dev/null
echo 1 > clear_printed_list
echo 0 > print_live_obj
echo 1 > memorizer_log_access
echo 1 > memorizer_enabled
ls -l
echo 0 > memorizer_enabled
echo 0 > memorizer_log_access

cat kmap > "$out"
cat stats
echo "kmap: $(wc -l < "$out") lines, $(wc -c < "$out") bytes"
