#!/usr/bin/env python3
"""Print the packetwire/serde time ratios of the `serializers` criterion bench as a markdown table.

Usage: python3 scripts/bench_ratios.py [target/criterion]

Reads criterion's `new/benchmark.json` and `new/estimates.json` files (median point estimates) for the
groups `encode/<format>/<size>` and `decode/<format>/<size>`, each holding a `packetwire` and a
`serde` function measured in the same run.
"""
import json
import sys
from pathlib import Path


def median_ns(path: Path) -> float:
    return json.loads(path.read_text())["median"]["point_estimate"]


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
    # group id -> {function id -> median ns}; criterion keeps the ids in benchmark.json.
    groups: dict[str, dict[str, float]] = {}
    for bench in root.glob("*/*/new/benchmark.json"):
        meta = json.loads(bench.read_text())
        estimates = bench.parent / "estimates.json"
        groups.setdefault(meta["group_id"], {})[meta["function_id"]] = median_ns(estimates)
    rows = []
    for group in sorted(groups, key=lambda g: (g.split("/")[0] != "encode", g)):
        parts = group.split("/")
        funcs = groups[group]
        if len(parts) == 3 and "packetwire" in funcs and "serde" in funcs:
            a, b = funcs["packetwire"], funcs["serde"]
            rows.append((parts[0], parts[1], parts[2], a, b, a / b))
    if not rows:
        print(f"no criterion results under {root}", file=sys.stderr)
        return 1
    print("| operation | format | document | packetwire | plain serde | ratio |")
    print("|---|---|---|---:|---:|---:|")
    for op, fmt, size, a, b, r in rows:
        print(f"| {op} | {fmt} | {size} | {a / 1000:.2f} µs | {b / 1000:.2f} µs | {r:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
