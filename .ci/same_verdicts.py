"""Compare the verdicts of two claims reports (``claims.json``): exit 1, naming each
claim, where the status or a criterion's holds differs, or where a claim erred."""
import json
import sys


def load(path):
    return {r["id"]: r for r in json.load(open(path))["claims"]}


def main(a_path, b_path) -> int:
    a, b = load(a_path), load(b_path)
    problems = []
    for cid in sorted(set(a) | set(b)):
        ra, rb = a.get(cid), b.get(cid)
        if ra is None or rb is None:
            problems.append(f"{cid}: only in {a_path if rb is None else b_path}")
            continue
        for r, path in ((ra, a_path), (rb, b_path)):
            if r["status"] == "error":
                problems.append(f"{cid}: error in {path}: {r['error']}")
        if ra["status"] != rb["status"]:
            problems.append(f"{cid}: {ra['status']} vs {rb['status']}")
        ha = {c["name"]: c["holds"] for c in ra.get("criteria", [])}
        hb = {c["name"]: c["holds"] for c in rb.get("criteria", [])}
        for name in sorted(set(ha) | set(hb)):
            if ha.get(name) != hb.get(name):
                problems.append(f"{cid}: criterion {name} holds {ha.get(name)} vs {hb.get(name)}")
        print(f"{cid:<28} {ra['status']:<16} {rb['status']}")
    for p in problems:
        print("DIFFERENT:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
