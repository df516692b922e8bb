#!/usr/bin/env bats
# The stream files of the guest profile "stream" (tests/guest/stream.bats,
# run by vm/run.sh --profile stream), read with capmap: every object the
# kernel said it streamed is in the file or counted as dropped, exactly,
# and capmap sees in a stream what it sees in a kmap of the same objects.

setup_file() {
	top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	run_dir=${STREAM_RUN_DIR:-$top/out/vm/stream}
	capmap=$top/build/analyzer/release/capmap
	export top run_dir capmap
}

# fact NAME KEY: a value the guest test recorded for NAME's stream
fact() {
	awk -v key="$2" '$1 == key { $1 = ""; sub(/^ /, ""); print }' "$run_dir/$1.facts"
}

# freed_objects FILE: objects of a kmap (text) that were freed, not live
freed_objects() {
	awk -F, '/^[0-9a-f]/ && $6 != 0 { n++ } END { print n + 0 }' "$1"
}

# check_accounting NAME: the objects freed while NAME streamed are the
# stream's freed objects plus the objects the kernel dropped.
check_accounting() {
	local name=$1 kmap streamed dropped found
	[ -f "$run_dir/$name.mzs" ] || {
		echo "no $run_dir/$name.mzs: run vm/run.sh --profile stream first"
		return 1
	}
	kmap=$BATS_TEST_TMPDIR/$name.kmap
	"$capmap" convert "$run_dir/$name.mzs" >"$kmap"
	streamed=$(fact "$name" streamed)
	dropped=$(fact "$name" dropped_objects)
	found=$(freed_objects "$kmap")
	echo "$name: streamed $streamed, in the file $found, dropped $dropped"
	[ -n "$streamed" ] && [ "$streamed" -gt 0 ]
	[ "$found" -eq $((streamed - dropped)) ]
}

@test "stream: the guest's stream tests passed" {
	cat "$run_dir/results.tap"
	! grep -q '^not ok' "$run_dir/results.tap"
	grep -q '^ok .* stream: ' "$run_dir/results.tap"
}

@test "stream: a full pool's worth of objects, all in the stream" {
	check_accounting pool
}

@test "stream: nothing dropped, nothing missing after SIGTERM" {
	check_accounting term
}

@test "stream: a held-back reader's losses are exactly what is missing" {
	check_accounting held
	[ "$(fact held dropped_objects)" -gt 0 ]
	# capmap reports what the stream's LOST records say: each CPU's
	# losses, in its next record or, at the stop, in a last LOST record
	# where its buffer had room for one.
	run "$capmap" summary "$run_dir/held.mzs"
	echo "$output"
	[ "$status" -eq 0 ]
	lost=$(awk '$1 == "lost" { print $2 }' <<<"$output")
	dropped=$(( $(fact held dropped_objects) + $(fact held dropped_live) ))
	echo "LOST records: $lost objects; the kernel dropped $dropped"
	[ "$lost" -gt 0 ]
	[ "$lost" -le "$dropped" ]
}

@test "stream: the workload's objects have exactly their known accesses" {
	check_accounting workload
	kmap=$BATS_TEST_TMPDIR/workload.kmap
	for cache in memorizer_workload memorizer_workload_large; do
		[ $cache = memorizer_workload ] && want=$(fact workload small) ||
			want=$(fact workload large)
		have=$(awk -F, -v cache=$cache '
			!/^ / { mine = ($10 == cache); objects += mine; next }
			mine { entries++; writes += $3; reads += $4 }
			END { printf "objects %d entries %d writes %d reads %d\n",
			      objects, entries, writes, reads }' "$kmap")
		echo "$cache: module says '$want', stream has '$have'"
		[ "$have" = "$want" ]
	done
}

@test "stream: capmap's graph and summary of the workload agree for the stream and the kmap" {
	for cache in memorizer_workload memorizer_workload_large; do
		run "$capmap" graph --cache $cache --objects cache --format csv "$run_dir/workload.kmap"
		[ "$status" -eq 0 ]
		from_kmap=$output
		run "$capmap" graph --cache $cache --objects cache --format csv "$run_dir/workload.mzs"
		[ "$status" -eq 0 ]
		echo "$cache, kmap:"
		echo "$from_kmap"
		echo "$cache, stream:"
		echo "$output"
		[ "$(echo "$from_kmap" | wc -l)" -ge 2 ]
		[ "$output" = "$from_kmap" ]
	done
	# The summary's rows of the workload's caches, too.
	for input in workload.kmap workload.mzs; do
		"$capmap" summary --top 0 --format csv "$run_dir/$input" |
			grep -E ',memorizer_workload(_large)?,' >"$BATS_TEST_TMPDIR/$input.rows" || true
	done
	cat "$BATS_TEST_TMPDIR/workload.mzs.rows"
	[ -s "$BATS_TEST_TMPDIR/workload.mzs.rows" ]
	diff "$BATS_TEST_TMPDIR/workload.kmap.rows" "$BATS_TEST_TMPDIR/workload.mzs.rows"
}

@test "stream: capmap convert gives kmap text that capmap reads as the stream" {
	kmap=$BATS_TEST_TMPDIR/term.kmap
	"$capmap" convert "$run_dir/term.mzs" >"$kmap"
	head -n 1 "$kmap" | grep -qx '# memorizer kmap v1'
	a=$("$capmap" summary --top 0 --format csv "$run_dir/term.mzs")
	b=$("$capmap" summary --top 0 --format csv "$kmap")
	[ "$a" = "$b" ]
}
