#!/usr/bin/env python3
"""End-to-end check of capmap on a kmap pulled from the real guest.

usage: check_vm_kmap.py CAPMAP KMAP SYSTEM_MAP COMM

In the guest, a known action runs as a task named COMM (for example a shell
script /tmp/capmap-probe that cats a few files: the kernel names a task
after the file it executes). This checks that capmap reads the guest's kmap
without error, that objects allocated by COMM are in it, that they were
accessed (the graph has edges from code to them) and that System.map turns
their allocation sites and accessors into function names. Prints TAP.
"""
import json
import subprocess
import sys


def capmap(binary, *args):
    run = subprocess.run([binary, *args], capture_output=True, timeout=600)
    if run.returncode != 0:
        raise RuntimeError(f"capmap {' '.join(args)} exited {run.returncode}: {run.stderr.decode(errors='replace')}")
    return json.loads(run.stdout)


def main():
    binary, kmap, system_map, comm = sys.argv[1:5]
    checks = []

    def check(name, condition, detail=""):
        checks.append((name, bool(condition), detail))

    try:
        summary = capmap(binary, "summary", "--format", "json", "--top", "0", "--no-progress", kmap)
        totals = summary["totals"]
        check("kmap parses and has objects with accesses", totals["objects"] > 0 and totals["access_records"] > 0,
              json.dumps(totals))
        procs = [r for r in summary["processes"]["rows"] if r["label"].split(" ", 1)[-1] == comm]
        check(f"objects allocated by {comm} are listed", procs and sum(r["objects"] for r in procs) > 0,
              json.dumps(procs))
        graph = capmap(binary, "graph", "--format", "json", "--objects", "site", "--comm", comm,
                       "--symbols", system_map, "--no-progress", kmap)
        check(f"code accessed objects allocated by {comm}", graph["edges_total"] > 0 and graph["all"]["reads"] +
              graph["all"]["writes"] > 0, json.dumps(graph["all"]))
        named = [n for n in graph["nodes"] if n["kind"] == "code" and not all(c in "0123456789abcdef" for c in n["label"])]
        check("System.map names the accessing functions", named, f"{len(named)} of {len(graph['nodes'])} nodes")
        if graph["edges"]:
            site = next(n for n in graph["nodes"] if n["id"] == graph["edges"][0]["target"])
            check("System.map names the allocation site", "+0x" in site["label"], site["label"])
    except (RuntimeError, KeyError, ValueError, subprocess.TimeoutExpired) as error:
        check("capmap runs", False, str(error))

    print(f"1..{len(checks)}")
    for i, (name, ok, detail) in enumerate(checks, 1):
        print(f"{'ok' if ok else 'not ok'} {i} - {name}")
        if not ok:
            print(f"# {detail}")
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
