#!/usr/bin/env python3
"""Checks capmap's output formats with their real consumers.

usage: check_formats.py MODE CAPMAP CAPMAP_GEN WORKDIR

Each mode generates a kmap with capmap-gen, runs capmap on it and parses the
result back: JSON with the json module, DOT with Graphviz's dot, GraphML with
networkx. Figures are cross-checked against `capmap summary --format json`.
"""
import json
import os
import subprocess
import sys


def run(cmd, **kw):
    result = subprocess.run(cmd, capture_output=True, timeout=300, **kw)
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr.decode(errors='replace')}")
    return result.stdout


def generate(gen, workdir, name, *args):
    path = os.path.join(workdir, name)
    run([gen, "--size", "400K", "--seed", "7", "--untracked-every", "100", "-o", path, *args])
    return path


def summary_json(capmap, kmap, *args):
    return json.loads(run([capmap, "summary", "--format", "json", "--threads", "2", *args, kmap]))


def check(condition, message):
    if not condition:
        sys.exit("check failed: " + message)


COUNT_FIELDS = ["objects", "live", "bytes", "access_records", "reads", "writes"]


def mode_summary_json(capmap, gen, workdir):
    kmap = generate(gen, workdir, "formats.kmap")
    doc = summary_json(capmap, kmap, "--top", "5")
    totals = doc["totals"]
    check(totals["objects"] > 100 and totals["reads"] > 0, "generated kmap has objects and reads")
    check(doc["untracked"]["access_records"] > 0, "untracked accesses are reported")
    for table in ["sites", "caches", "allocators", "processes"]:
        t = doc[table]
        check(len(t["rows"]) <= 5, f"{table}: --top 5 respected")
        for field in COUNT_FIELDS:
            row_sum = sum(r[field] for r in t["rows"]) + t["others"][field]
            check(row_sum == t["total"][field] == totals[field],
                  f"{table}.{field}: rows {row_sum}, table total {t['total'][field]}, totals {totals[field]}")
    # All rows: no 'others' left.
    doc_all = summary_json(capmap, kmap, "--top", "0")
    check(doc_all["sites"]["others"]["rows"] == 0, "--top 0 shows every row")
    check(len(doc_all["sites"]["rows"]) == doc_all["sites"]["distinct"], "distinct sites all listed")
    # The stream path (stdin) gives the same document apart from the name.
    with open(kmap, "rb") as f:
        piped = json.loads(run([capmap, "summary", "--format", "json", "--top", "5", "-"], stdin=f))
    check(piped["totals"] == doc["totals"] and piped["sites"] == doc["sites"], "stdin gives the same result")


def graph(capmap, kmap, fmt, *args):
    return run([capmap, "graph", "--format", fmt, "--threads", "2", *args, kmap])


def mode_graph_dot(capmap, gen, workdir):
    kmap = generate(gen, workdir, "formats.kmap")
    for grouping in ["site", "cache", "object"]:
        dot = graph(capmap, kmap, "dot", "--objects", grouping, "--top", "40")
        svg = run(["dot", "-Tsvg"], input=dot)
        check(b"<svg" in svg and svg.count(b'class="edge"') == 40, f"dot renders 40 edges ({grouping})")
    # Labels with quotes, backslashes and newlines-to-be must still parse.
    odd = os.path.join(workdir, "odd.kmap")
    with open(odd, "w") as f:
        f.write('1,2,3,4,5,0,0,KMALLOC,a "quoted" \\ comm,ca"che\\\n  a,2,1,1\n')
    svg = run(["dot", "-Tsvg"], input=graph(capmap, odd, "dot", "--objects", "cache"))
    check(b"<svg" in svg, "odd names render")


def mode_graph_graphml(capmap, gen, workdir):
    import networkx
    kmap = generate(gen, workdir, "formats.kmap")
    totals = summary_json(capmap, kmap)["totals"]
    path = os.path.join(workdir, "graph.graphml")
    with open(path, "wb") as f:
        f.write(graph(capmap, kmap, "graphml", "--objects", "cache"))
    g = networkx.read_graphml(path)
    check(g.is_directed(), "directed graph")
    reads = sum(d["reads"] for _, _, d in g.edges(data=True))
    writes = sum(d["writes"] for _, _, d in g.edges(data=True))
    records = sum(d["records"] for _, _, d in g.edges(data=True))
    check((reads, writes, records) == (totals["reads"], totals["writes"], totals["access_records"]),
          f"graphml edges add up to the totals: {(reads, writes, records)} vs {totals}")
    kinds = {d["kind"] for _, d in g.nodes(data=True)}
    check(kinds == {"code", "cache"}, f"node kinds {kinds}")
    for u, v in g.edges():
        check(g.nodes[u]["kind"] == "code" and g.nodes[v]["kind"] == "cache", "edges go from code to caches")


def mode_graph_json(capmap, gen, workdir):
    kmap = generate(gen, workdir, "formats.kmap")
    totals = summary_json(capmap, kmap)["totals"]
    doc = json.loads(graph(capmap, kmap, "json", "--objects", "object", "--top", "25"))
    check(doc["edges_shown"] == 25 == len(doc["edges"]), "json --top 25")
    check(doc["all"]["reads"] == totals["reads"] and doc["all"]["writes"] == totals["writes"],
          "all edges add up to the totals")
    ids = {n["id"] for n in doc["nodes"]}
    check(all(e["source"] in ids and e["target"] in ids for e in doc["edges"]), "edges refer to nodes")
    weights = [e["reads"] + e["writes"] for e in doc["edges"]]
    check(weights == sorted(weights, reverse=True), "heaviest edges first")
    # Filters: one pid's accesses are a subset.
    pid_doc = json.loads(graph(capmap, kmap, "json", "--pid", "0"))
    check(0 < pid_doc["all"]["reads"] < totals["reads"], "--pid keeps part of the accesses")


def main():
    mode, capmap, gen, workdir = sys.argv[1:5]
    os.makedirs(workdir, exist_ok=True)
    globals()["mode_" + mode.replace("-", "_")](capmap, gen, workdir)
    print(f"{mode}: ok")


if __name__ == "__main__":
    main()
