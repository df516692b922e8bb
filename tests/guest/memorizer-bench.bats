#!/usr/bin/env bats
# Not part of make test: runs Memorizer's benchmark in the guest, e.g.
#   vm/run.sh --name bench --stall 3000 --tests memorizer-bench.bats --append memorizer_enabled_boot=no
# (one test of several minutes: --stall) and leaves its report in the results
# share (out/vm/NAME/share/memorizer-bench.txt).
# vm/mkinitramfs.sh builds memorizer-bench from bench/memorizer-bench.c.

@test "memorizer benchmark: tracking off, on, with access logging, streaming" {
	/tests/bench/memorizer-bench.sh "${MEMORIZER_BENCH_ROUNDS:-15}" "${MEMORIZER_BENCH_REPEATS:-5}" >/mnt/results/memorizer-bench.txt
	cat /mnt/results/memorizer-bench.txt
}
