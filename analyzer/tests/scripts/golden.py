#!/usr/bin/env python3
"""Runs one golden case of tests/golden/cases.txt.

usage: golden.py CAPMAP GOLDEN_DIR NAME   (UPDATE_GOLDEN=1 rewrites the files)

A case line is "NAME EXIT ARGS...": capmap ARGS runs in GOLDEN_DIR; its exit
status must be EXIT, its stdout NAME.out and its stderr NAME.err (when that
file exists; a case without NAME.err must print nothing on stderr).
"""
import os
import shlex
import subprocess
import sys


def main():
    capmap, golden_dir, name = sys.argv[1:4]
    cases = {}
    with open(os.path.join(golden_dir, "cases.txt")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                fields = shlex.split(line)
                cases[fields[0]] = (int(fields[1]), fields[2:])
    status, args = cases[name]
    run = subprocess.run([capmap] + args, cwd=golden_dir, capture_output=True, timeout=120)
    out_path = os.path.join(golden_dir, name + ".out")
    err_path = os.path.join(golden_dir, name + ".err")
    if os.environ.get("UPDATE_GOLDEN"):
        with open(out_path, "wb") as f:
            f.write(run.stdout)
        if run.stderr:
            with open(err_path, "wb") as f:
                f.write(run.stderr)
        print(f"updated {name} (exit {run.returncode})")
        return 0
    failures = []
    if run.returncode != status:
        failures.append(f"exit status {run.returncode}, expected {status}")
    with open(out_path, "rb") as f:
        if run.stdout != f.read():
            failures.append(f"stdout differs from {out_path}:\n{run.stdout.decode(errors='replace')}")
    expected_err = b""
    if os.path.exists(err_path):
        with open(err_path, "rb") as f:
            expected_err = f.read()
    if run.stderr != expected_err:
        failures.append(f"stderr differs:\n{run.stderr.decode(errors='replace')}")
    for failure in failures:
        print(f"golden {name}: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
