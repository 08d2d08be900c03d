#!/usr/bin/env python3
"""Medians of bench/scale_out.sh's runs as Markdown tables.

Usage: scale_out_table.py RESULTS_DIR CONFIG...

Reads RESULTS_DIR/r<round>-<config>/bench.json (`chatctl bench --json`),
the chatd metrics scraped before and after each run, and PostgreSQL's
committed transactions per run; prints one row per configuration with the
median over rounds of each figure (and the range where it helps).
"""

import json
import re
import statistics
import sys
from pathlib import Path


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ms(us):
    return "–" if us is None else f"{us / 1000:.1f}"


def num(x, fmt="{:.0f}"):
    return "–" if x is None else fmt.format(x)


def metrics(path):
    """Metric name → value from a Prometheus text scrape."""
    out = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        m = re.match(r"^([a-z_]+)(?:\{[^}]*\})?\s+([0-9.eE+-]+)$", line)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(2))
    return out


def find(d, *names):
    for n in names:
        if n in d:
            return d[n]
    return None


def writer_figures(run, nodes):
    """Commits, writes per commit and mean commit time over all nodes,
    from the metrics deltas (the whole run, setup included)."""
    commits = writes = secs = count = 0.0
    seen = False
    for i in range(1, nodes + 1):
        a = metrics(run / f"n{i}-metrics-before.txt")
        b = metrics(run / f"n{i}-metrics-after.txt")
        c0, c1 = find(a, "chatd_commits_total", "chatd_commits"), find(b, "chatd_commits_total", "chatd_commits")
        w0, w1 = find(a, "chatd_writes_total", "chatd_writes"), find(b, "chatd_writes_total", "chatd_writes")
        s0, s1 = a.get("chatd_commit_seconds_sum"), b.get("chatd_commit_seconds_sum")
        n0, n1 = a.get("chatd_commit_seconds_count"), b.get("chatd_commit_seconds_count")
        if None not in (c0, c1, w0, w1):
            seen = True
            commits += c1 - c0
            writes += w1 - w0
        if None not in (s0, s1, n0, n1):
            secs += s1 - s0
            count += n1 - n0
    if not seen:
        return None, None, None
    per = writes / commits if commits else None
    mean_ms = secs / count * 1000 if count else None
    return commits, per, mean_ms


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: scale_out_table.py RESULTS_DIR CONFIG...")
    root = Path(sys.argv[1])
    configs = sys.argv[2:]
    names = {
        "redb": "1 node, redb",
        "pg": "1 node, PostgreSQL",
        "pg2": "2 nodes, PostgreSQL + NATS",
    }
    rows, cpu_rows, writer_rows = [], [], []
    for cfg in configs:
        runs = sorted(root.glob(f"r*-{cfg}"))
        reports = [(r, json.loads((r / "bench.json").read_text())) for r in runs if (r / "bench.json").exists()]
        if not reports:
            continue
        rs = [j for _, j in reports]
        n = len(rs)
        dur = median([j["duration_s"] for j in rs])
        complete = sum(j["deliveries"] for j in rs), sum(j["expected_deliveries"] for j in rs)
        errors = sum(j["errors"] for j in rs)
        acked = [j["acked_per_sec"] for j in rs]
        rows.append(
            "| {} | {} | {} ({}–{}) | {} / {} | {} / {} | {} / {} | {} of {} | {} |".format(
                names.get(cfg, cfg),
                n,
                num(median(acked)),
                num(min(acked)),
                num(max(acked)),
                ms(median([j["send_to_ack"]["p50_us"] for j in rs])),
                ms(median([j["send_to_ack"]["p99_us"] for j in rs])),
                ms(median([j["send_to_deliver"]["p50_us"] for j in rs])),
                ms(median([j["send_to_deliver"]["p99_us"] for j in rs])),
                ms(median([j["send_to_deliver_cross_node"]["p50_us"] or None for j in rs])),
                ms(median([j["send_to_deliver_cross_node"]["p99_us"] or None for j in rs])),
                complete[0],
                complete[1],
                errors,
            )
        )
        nodes = max(len(j["nodes"]) for j in rs)
        per_node = []
        for i in range(nodes):
            us = median([(j["nodes"][i].get("usage") or {}).get("cpu_us_per_delivery") for j in rs])
            cpu = median([(j["nodes"][i].get("usage") or {}).get("cpu_seconds") for j in rs])
            per_node.append(
                "n{}: {} µs, {} s ({} cores)".format(
                    i + 1, num(us, "{:.1f}"), num(cpu, "{:.1f}"), num(cpu / dur if cpu and dur else None, "{:.2f}")
                )
            )
        total = median([(j.get("nodes_total") or {}).get("cpu_us_per_delivery") for j in rs])

        def watched(label, key):
            return median([next((w[key] for w in j["watched"] if w["label"] == label), None) for j in rs])

        cpu_rows.append(
            "| {} | {} | {} | {} s, {} µs per acked msg | {} s |".format(
                names.get(cfg, cfg),
                "; ".join(per_node),
                num(total, "{:.1f}"),
                num(watched("postgres", "cpu_seconds"), "{:.1f}"),
                num(watched("postgres", "cpu_us_per_acked"), "{:.0f}"),
                num(watched("nats", "cpu_seconds"), "{:.2f}"),
            )
        )
        w = [writer_figures(r, len(j["nodes"])) for r, j in reports]
        xacts, failures = [], []
        for (r, j) in reports:
            f = r / "pg-xact-commit.txt"
            if f.exists() and f.read_text().strip():
                xacts.append(int(f.read_text().strip()) / max(j["acked"], 1))
            f = r / "pg-serialization-failures.txt"
            if cfg != "redb" and f.exists() and f.read_text().strip():
                failures.append(int(f.read_text().strip()))
        writer_rows.append(
            "| {} | {} | {} | {} | {} | {} |".format(
                names.get(cfg, cfg),
                num(median([x[0] for x in w])),
                num(median([x[1] for x in w]), "{:.1f}"),
                num(median([x[2] for x in w]), "{:.2f}"),
                num(median(xacts) if xacts else None, "{:.2f}"),
                num(median(failures) if failures else None),
            )
        )
    print("| configuration | runs | acked msgs/s (min–max) | send→ack p50 / p99 ms | send→deliver p50 / p99 ms | cross-node p50 / p99 ms | deliveries | errors |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    print("| configuration | chatd CPU per delivery (per node: µs, CPU s, cores) | all nodes µs per delivery | PostgreSQL CPU | nats-server CPU |")
    print("|---|---|---|---|---|")
    print("\n".join(cpu_rows))
    print()
    print("| configuration | commits (all nodes) | writes per commit | mean commit ms | PostgreSQL xacts per acked msg | serialisation failures |")
    print("|---|---|---|---|---|---|")
    print("\n".join(writer_rows))


if __name__ == "__main__":
    main()
