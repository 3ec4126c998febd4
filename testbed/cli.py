"""The ``testbed`` command: list, check, figures, bench.

Every failure the user can cause (an unknown name, bad input) ends in one line
``testbed: error: ...`` and exit status 2; a claim that fails its check gives exit
status 1.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import TestbedError

SCALES = ("quick", "paper")


def _progress(items, desc):
    from tqdm import tqdm
    return tqdm(items, desc=desc, delay=2.0, file=sys.stderr, leave=False)


def cmd_list(args) -> int:
    from . import claims, rules
    from .objective import registry
    entries = []
    for name in registry.names():
        e = registry.entry(name)
        entries.append({"name": name, "dim": e.dim, "params": list(e.params),
                        "tags": list(e.tags), "paper": e.paper, "source": e.source})
    out = {"landscapes": entries, "rules": rules.names(),
           "claims": [{"id": k, "paper": m.PAPER, "claim": m.CLAIM}
                      for k, m in sorted(claims.modules().items())]}
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    wn = max((len(e["name"]) for e in entries), default=0)
    wt = max((len(", ".join(e["tags"])) for e in entries), default=0)
    print("landscapes:")
    for e in entries:
        dim = e["dim"] if e["dim"] is not None else "any d"
        print(f"  {e['name']:<{wn}}  {dim!s:<6} {', '.join(e['tags']):<{wt}}  {e['paper']}")
    print("rules:\n  " + ", ".join(out["rules"]))
    print("claims:")
    wc = max((len(c["id"]) for c in out["claims"]), default=0)
    for c in out["claims"]:
        print(f"  {c['id']:<{wc}}  {c['paper']}")
    return 0


def _claim_modules(ids):
    """The claims asked for, every id checked before any work (all unknown ones named)."""
    from . import claims
    if not ids:
        return list(claims.modules().values())
    known = claims.ids()
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise TestbedError(f"unknown claim(s) {', '.join(map(repr, unknown))}; available: "
                           f"{', '.join(known)}")
    return [claims.get(i) for i in dict.fromkeys(ids)]


def _prepare(args) -> list:
    """Everything a claims run needs, checked before any work starts: the ids, the
    perturbation, the results folder (and, for figures, the output folder)."""
    import os
    from . import perturb
    from .cache import ensure_writable, results_dir
    if args.perturb is not None:
        os.environ[perturb.ENV] = repr(perturb.validate(args.perturb))
    perturb.level()                                   # validates $TESTBED_PERTURB
    modules = _claim_modules(args.ids)
    ensure_writable(results_dir(), "results folder ($TESTBED_RESULTS)")
    if getattr(args, "out", None) is not None:
        ensure_writable(Path(args.out), "--out")
    return modules


def _print_records(records) -> None:
    """One line per claim; under a claim that did not pass, what failed."""
    from .claims._base import PASS, failed_criteria
    from .claims._report import _cell, deciding
    width = max(len(r["id"]) for r in records)
    for r in records:
        print(f"{r['status'].upper():<15} {r['id']:<{width}} {r['seconds']:>8.1f}s  "
              f"{deciding(r)}")
        if r["status"] == PASS:
            continue
        if "error" in r:
            e = r["error"]
            print(f"{'':<15} {e['type']}: {e['message']}\n{'':<15} at {e['where']}")
        for c in failed_criteria(r):
            print(f"{'':<15} {c['name']}: measured {_cell(c['measured'])}, predicted "
                  f"{_cell(c['predicted'])}, tolerance {_cell(c['tolerance'])} "
                  f"({c['reason']})")


def _run_claims(modules, scale, out=None) -> list:
    """Each claim in turn, its record printed to stderr as it finishes; one that raises
    is recorded as an error and the rest go on."""
    from .claims._base import evaluate
    _DONE.clear()
    for m in _progress(modules, "claims"):
        figure = None if out is None else out / f"{m.ID}.png"
        record = evaluate(m, scale, figure=figure)
        _DONE.append(record)
        print(f"{m.ID}: {record['status']}", file=sys.stderr)
    return list(_DONE)


_DONE: list = []           # records finished in this run, for the interrupt message


def _exit_code(records, not_reproduced_fails: bool) -> int:
    from .claims._base import ERROR, FAIL, NOT_REPRODUCED
    bad = {FAIL, ERROR} | ({NOT_REPRODUCED} if not_reproduced_fails else set())
    return 1 if any(r["status"] in bad for r in records) else 0


def cmd_check(args) -> int:
    records = _run_claims(_prepare(args), args.scale)
    if args.json:
        print(json.dumps(records))
    else:
        _print_records(records)
    return _exit_code(records, not_reproduced_fails=True)


def cmd_figures(args) -> int:
    from .claims import _report as report
    modules = _prepare(args)
    out = Path(args.out)
    records = _run_claims(modules, args.scale, out)
    report.write(out, records, args.scale)
    print(f"report: {out / report.PAGE_NAME}, {out / report.JSON_NAME}", file=sys.stderr)
    _print_records(records)
    # a claim reported as not reproduced at this scale (with its evidence in the
    # report) is a scientific outcome: only a failure or an error fails the job
    return _exit_code(records, not_reproduced_fails=False)


def cmd_bench(args) -> int:
    from .bench import run_benchmark
    result = run_benchmark(args.name, threads=args.threads, seed=args.seed)
    if args.json:
        print(json.dumps(result, default=float))
    else:
        for k, v in result.items():
            print(f"{k:>16}: {v}")
    passed = result.get("check", {}).get("passed")
    return 1 if passed is False else 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="testbed", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("list", help="landscapes, update rules and claims")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_list)
    s = sub.add_parser("check", help="run claims' experiments and checks")
    s.add_argument("ids", nargs="*", help="claim ids (default: all)")
    s.add_argument("--scale", choices=SCALES, default="quick")
    s.add_argument("--json", action="store_true")
    s.add_argument("--perturb", type=float, default=None, metavar="EPS",
                   help="perturb inputs by a relative EPS (see testbed.perturb)")
    s.set_defaults(func=cmd_check)
    s = sub.add_parser("figures", help="regenerate figures and the claims report")
    s.add_argument("ids", nargs="*", help="claim ids (default: all)")
    s.add_argument("--scale", choices=SCALES, default="paper")
    s.add_argument("--out", default="figures")
    s.add_argument("--perturb", type=float, default=None, metavar="EPS",
                   help="perturb inputs by a relative EPS (see testbed.perturb)")
    s.set_defaults(func=cmd_figures)
    s = sub.add_parser("bench", help="run a standard benchmark workload (B1, B2, ...)")
    s.add_argument("name")
    s.add_argument("--json", action="store_true")
    s.add_argument("--threads", type=int, default=None)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_bench)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except TestbedError as exc:
        print(f"testbed: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        from .cache import results_dir
        print(f"testbed: interrupted; {len(_DONE)} claim(s) finished in this run, and every "
              f"finished result is kept in {results_dir()}/: run the same command again to "
              f"resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
