#!/usr/bin/env python3
"""Checks capmap on Memorizer stream files (.mzs).

usage: check_stream.py MODE CAPMAP CAPMAP_GEN GOLDEN_DIR WORKDIR

generated  capmap-gen still writes tests/golden/small.mzs byte for byte.
equal      every command gives the same output for a generated stream as
           for the kmap `capmap convert` writes from it (apart from the
           lines that describe the input), also with one and two threads
           and through gzip.
"""
import gzip
import json
import os
import subprocess
import sys

# The arguments of tests/golden/small.mzs.
GOLDEN_ARGS = ["--format", "stream", "--objects", "30", "--seed", "10", "--cpus", "2", "--subbuf-size", "8192",
               "--sites", "6", "--access-ips", "12", "--processes", "8", "--mean-accesses", "1.5",
               "--large-every", "12", "--snapshot-every", "10", "--lost-every", "9", "--incomplete-every", "2",
               "--unknown-every", "7"]

# A busier stream: three CPUs, small sub-buffers, everything the format has.
EQUAL_ARGS = ["--format", "stream", "--size", "1500K", "--seed", "11", "--cpus", "3", "--subbuf-size", "16384",
              "--sites", "300", "--access-ips", "2000", "--processes", "60", "--large-every", "150",
              "--snapshot-every", "700", "--lost-every", "500", "--incomplete-every", "3", "--unknown-every", "300"]


def run(cmd, **kw):
    result = subprocess.run(cmd, capture_output=True, timeout=300, **kw)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr.decode(errors='replace')}")
    return result.stdout


def check(condition, message):
    if not condition:
        sys.exit("check failed: " + message)


def mode_generated(capmap, gen, golden, workdir):
    path = os.path.join(workdir, "small.mzs")
    run([gen, *GOLDEN_ARGS, "-o", path])
    with open(path, "rb") as a, open(os.path.join(golden, "small.mzs"), "rb") as b:
        check(a.read() == b.read(), "capmap-gen " + " ".join(GOLDEN_ARGS) + " no longer writes tests/golden/small.mzs")


INPUT_LINES = ("kmap       ", "stream     ", "lost       ", "incomplete ", "a: ", "b: ")


def normalized(output, fmt):
    """The output without what describes the input file."""
    if fmt == "json":
        doc = json.loads(output)
        for key in ("input", "a", "b"):
            doc.pop(key, None)
        return json.dumps(doc, sort_keys=True)
    return "\n".join(line for line in output.decode().split("\n") if not line.startswith(INPUT_LINES))


def mode_equal(capmap, gen, golden, workdir):
    stream = os.path.join(workdir, "equal.mzs")
    kmap = os.path.join(workdir, "equal.kmap")
    run([gen, *EQUAL_ARGS, "-o", stream])
    run([capmap, "convert", "-o", kmap, stream])
    gz = stream + ".gz"
    with open(stream, "rb") as f, gzip.open(gz, "wb") as g:
        g.write(f.read())
    info = json.loads(run([capmap, "summary", "--format", "json", stream]))["input"]
    for key in ("superseded_live_records", "lost_objects", "lost_entries", "incomplete_objects", "unknown_records"):
        check(info[key] > 0, f"the generated stream has {key}")
    check(info["second_pass"], "a stream file is read twice")
    # An address inside an object with many accesses.
    with open(kmap) as f:
        lines = f.read().split("\n")
    object_lines = [i for i, l in enumerate(lines) if l and not l.startswith((" ", "#"))]
    busiest = max(zip(object_lines, object_lines[1:]), key=lambda p: p[1] - p[0])[0]
    address = lines[busiest].split(",")[2]
    commands = [
        (["summary"], "text"),
        (["summary", "--top", "0", "--sort", "bytes"], "text"),
        (["summary", "--format", "json", "--top", "5"], "json"),
        (["summary", "--format", "csv"], "csv"),
        (["graph"], "dot"),
        (["graph", "--format", "json", "--objects", "object", "--top", "50"], "json"),
        (["graph", "--format", "csv", "--objects", "cache"], "csv"),
        (["graph", "--format", "graphml", "--pid", "0"], "graphml"),
        (["object", address], "text"),
        (["object", "--format", "json", address], "json"),
    ]
    for args, fmt in commands:
        expected = normalized(run([capmap, *args, "-j", "2", kmap]), fmt)
        for threads in ("1", "2"):
            for path in (stream, gz):
                got = normalized(run([capmap, *args, "-j", threads, path]), fmt)
                check(got == expected, f"capmap {' '.join(args)} -j {threads} {path} differs from the converted kmap")
    for fmt in ("text", "json"):
        a = normalized(run([capmap, "diff", "--format", fmt, stream, kmap]), fmt)
        b = normalized(run([capmap, "diff", "--format", fmt, kmap, kmap]), fmt)
        check(a == b, f"diff --format {fmt} of the stream and its kmap shows changes")
    # Converting gzip input, or with tiny buffers, gives the same kmap.
    for extra in ([gz], ["--no-mmap", "--block-size", "100", stream], ["--chunk-size", "64", stream]):
        check(run([capmap, "convert", *extra]) == open(kmap, "rb").read(), f"convert {' '.join(extra)}")
    # A pipe is read once: LIVE records only superseded by later ones.
    with open(stream, "rb") as f:
        data = f.read()
    piped = json.loads(run([capmap, "summary", "--format", "json", "-"], input=data))["input"]
    check(not piped["second_pass"], "a pipe is read once")
    check(piped["superseded_live_records"] <= info["superseded_live_records"], "a pipe supersedes fewer")
    print(f"ok: {len(commands)} commands, {info['records']} records")


def main():
    mode, capmap, gen, golden, workdir = sys.argv[1:6]
    os.makedirs(workdir, exist_ok=True)
    {"generated": mode_generated, "equal": mode_equal}[mode](capmap, gen, golden, workdir)


if __name__ == "__main__":
    main()
