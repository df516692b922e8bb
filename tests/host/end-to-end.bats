#!/usr/bin/env bats
# End to end, as a user works: boot the Memorizer guest, trace the seeds'
# simple test, copy the kmap out with scp, analyze it with capmap.

setup_file() {
	top=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	export top
	run_dir=$top/out/vm/e2e-demo
	capmap=$top/build/analyzer/release/capmap
	export run_dir capmap
	"$top/vm/run.sh" --mode demo --name e2e-demo >"$BATS_FILE_TMPDIR/run.log" 2>&1
	echo $? >"$BATS_FILE_TMPDIR/run.rc"
}

@test "the demo boot succeeds and reports no kernel error" {
	cat "$BATS_FILE_TMPDIR/run.log"
	[ "$(cat "$BATS_FILE_TMPDIR/run.rc")" -eq 0 ]
}

@test "the kmap copied with scp is byte-identical to the one read in the guest" {
	want=$(awk '$2 == "kmap" { print $1 }' "$run_dir/share/fetch.sha256")
	have=$(sha256sum "$run_dir/kmap" | cut -d' ' -f1)
	echo "guest $want host $have"
	[ -n "$want" ]
	[ "$want" = "$have" ]
}

@test "the kmap has objects that ls allocated and freed, with their accesses" {
	# Object lines are not indented; access lines are indented by two spaces.
	grep -qE '^[0-9a-f]+,[0-9]+,[0-9a-f]+,[0-9]+,[0-9]+,[1-9][0-9]*,[0-9a-f]+,[A-Z_]+,ls,' "$run_dir/kmap"
	grep -qE '^  [0-9a-f]+,[0-9]+,[0-9]+,[0-9]+$' "$run_dir/kmap"
}

@test "capmap summarizes the real kmap with the guest's System.map" {
	run "$capmap" summary --top 0 --symbols "$run_dir/System.map" "$run_dir/kmap"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *" ls"* ]]
}

@test "capmap shows an object that ls allocated, with the code that accessed it" {
	# The first object the kmap says ls allocated and freed that has accesses.
	addr=$(awk -F, '/^[0-9a-f]/ { obj = ($9 == "ls" && $6 != 0) ? $3 : "" }
		/^  / && obj != "" { print obj; exit }' "$run_dir/kmap")
	echo "object: $addr"
	[ -n "$addr" ]
	run "$capmap" object --symbols "$run_dir/System.map" "$addr" "$run_dir/kmap"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ls"* ]]
	# Accessors are symbolized: function+0xoffset from the guest's System.map.
	[[ "$output" =~ [a-z_0-9]+\+0x[0-9a-f]+ ]]
	run "$capmap" graph --comm ls --objects cache --format csv "$run_dir/kmap"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | wc -l)" -ge 2 ]
}
