"""The ``testbed`` command: list, check, figures, verify, sweep, bench.

Every failure the user can cause (an unknown name, bad input) ends in one line
``testbed: error: ...`` and exit status 2; a claim that fails its check, or a landscape
that fails verification, gives exit status 1. ``--folder PATH`` (any command but
bench, repeatable) adds a folder of the user's landscapes, claims and update rules, as
``$TESTBED_FUNCTIONS`` does; a file in it that does not load is a warning,
``testbed: warning: ...``, and the rest loads.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from .errors import TestbedError


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
           "claims": [{"id": k, "paper": m.PAPER, "claim": m.CLAIM,
                       **({"source": m.__file__} if claims.is_user(m) else {})}
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
    modules = _at_scale(_claim_modules(args.ids), args.scale, explicit=bool(args.ids))
    ensure_writable(results_dir(), "results folder ($TESTBED_RESULTS)")
    _use_scheduler(args.scheduler, args.fallback_local)
    if getattr(args, "out", None) is not None:
        ensure_writable(Path(args.out), "--out")
    return modules


def _at_scale(modules, scale: str, explicit: bool) -> list:
    """The claims that define ``scale`` (their ``SCALES``): a claim named by id must;
    of all claims, those without it are skipped with a warning naming them."""
    lacking = [m.ID for m in modules if scale not in m.SCALES]
    if lacking and (explicit or len(lacking) == len(modules)):
        known = ", ".join(dict.fromkeys(s for m in modules for s in m.SCALES))
        raise TestbedError(f"no scale {scale!r} in claim(s) {', '.join(lacking)}; their "
                           f"scales: {known}")
    if lacking:
        warnings.warn(f"{len(lacking)} claim(s) have no {scale!r} scale and are skipped: "
                      f"{', '.join(lacking)}", stacklevel=2)
    return [m for m in modules if scale in m.SCALES]


def _use_scheduler(address, fallback_local: bool) -> None:
    """Send the claims' grid points (:mod:`testbed.claims._grid`) to the Dask scheduler
    at ``address`` (default ``$TESTBED_SCHEDULER``), checked to answer before any work;
    one that does not is an error, or with ``fallback_local`` a warning and a local
    run."""
    import os
    from .claims._grid import TIMEOUT
    from .sweep.backends import SCHEDULER_ENV, SchedulerUnreachable, connect
    address = address or os.environ.get(SCHEDULER_ENV)
    if not address:
        return
    try:
        connect(address, TIMEOUT).close()
    except SchedulerUnreachable as exc:
        if not fallback_local:
            raise TestbedError(f"{exc}; pass --fallback-local to run locally instead") \
                from None
        warnings.warn(f"{exc}; running locally as asked (--fallback-local)", stacklevel=2)
        os.environ.pop(SCHEDULER_ENV, None)
        return
    os.environ[SCHEDULER_ENV] = address


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
    from .claims import is_user
    from .claims._base import evaluate
    _DONE.clear()
    for m in _progress(modules, "claims"):
        figure = None if out is None else out / f"{m.ID}.png"
        record = evaluate(m, scale, figure=figure)
        if is_user(m):
            record["source"] = m.__file__
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


def _landscapes_to_verify(args) -> list[str]:
    """The names asked for (every one checked first), else those of the --folder
    folders, else the whole catalogue."""
    from .objective import registry
    if args.names:
        known = registry.names()
        unknown = [n for n in args.names if n not in known]
        if unknown:
            raise TestbedError(f"unknown landscape(s) {', '.join(map(repr, unknown))}; "
                               f"`testbed list` shows them all")
        return list(dict.fromkeys(args.names))
    if args.folder:
        names = sorted({n for f in args.folder for n in registry.contents(f)["landscapes"]})
        if not names:
            raise TestbedError(f"no landscape to verify in {', '.join(args.folder)} (it "
                               f"defines claims or rules only)")
        return names
    return registry.names()


def cmd_verify(args) -> int:
    from . import verify
    from .objective import registry
    for flag, value in (("--d", args.d), ("--points", args.points)):
        if value < 1:
            raise TestbedError(f"{flag} must be a positive integer, got {value}")
    reports = [verify.entries([name], d=args.d, n_points=args.points, seed=args.seed)[0]
               for name in _progress(_landscapes_to_verify(args), "landscapes")]
    problems = registry.problems()
    failed = [r for r in reports if not r.passed]
    if args.json:
        print(json.dumps({"landscapes": [r.as_dict() for r in reports],
                          "problems": problems}, default=str))
    else:
        for r in reports:
            print(r.table() + "\n")
        print(f"verified {len(reports)} landscape(s): {len(reports) - len(failed)} passed, "
              f"{len(failed)} failed" + (f" ({', '.join(r.entry for r in failed)})"
                                         if failed else ""))
        for p in problems:
            print(f"not loaded: {p}")
    return 1 if failed or problems else 0


def cmd_sweep(args) -> int:
    from .cache import results_dir
    from .sweep import sweep
    try:
        result = sweep(args.experiment, args.grid, seeds=args.seeds, scale=args.scale,
                       scheduler=args.scheduler, fallback_local=args.fallback_local,
                       workers=args.workers, out=args.out, progress=not args.quiet,
                       timeout=args.timeout)
    except KeyboardInterrupt:
        print(f"testbed: interrupted; every finished task is kept in {results_dir()}/: run "
              f"the same command again to resume", file=sys.stderr)
        return 130
    for f in result.failures:
        print(f"FAILED task {f['task']} ({f['point']}, seed {f['seed']}): {f['reason']}")
    paths = [p for p in (result.tasks_path, result.replicas_path, result.grid_path) if p]
    print(f"{result.info['finished']}/{result.info['tasks']} tasks finished; results: "
          + ", ".join(map(str, paths)))
    return 1 if result.failures else 0


def cmd_bench(args) -> int:
    from .bench import run_all, table
    report = run_all(args.name or None, threads=args.threads, seed=args.seed)
    if args.record:
        Path(args.record).parent.mkdir(parents=True, exist_ok=True)
        Path(args.record).write_text(json.dumps(report, indent=1, default=float) + "\n")
    if args.json:
        records = report["records"]
        print(json.dumps(records[0] if len(records) == 1 else report, default=float))
    else:
        print(table(report["records"]))
    failed = [r["workload"] for r in report["records"] if r["check"].get("passed") is False]
    return 1 if failed else 0


SCALE_HELP = ("a scale of the claims' SCALES: quick, paper, or large (claims that "
              "define it; more replicas or larger d, for a cluster)")


def cluster_options(s) -> None:
    """--scheduler and --fallback-local of check and figures."""
    s.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run the claims' grid points on this Dask scheduler, e.g. "
                        "tcp://host:8786 (default $TESTBED_SCHEDULER; none: in this "
                        "process)")
    s.add_argument("--fallback-local", action="store_true",
                   help="run locally if the scheduler does not answer")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="testbed", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    folder = argparse.ArgumentParser(add_help=False)
    folder.add_argument("--folder", action="append", default=[], metavar="PATH",
                        help="a folder of your landscapes, claims and update rules "
                             "(repeatable; as $TESTBED_FUNCTIONS)")
    s = sub.add_parser("list", parents=[folder], help="landscapes, update rules and claims")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_list)
    s = sub.add_parser("check", parents=[folder], help="run claims' experiments and checks")
    s.add_argument("ids", nargs="*", help="claim ids (default: all)")
    s.add_argument("--scale", default="quick", help=SCALE_HELP + " (default quick)")
    s.add_argument("--json", action="store_true")
    s.add_argument("--perturb", type=float, default=None, metavar="EPS",
                   help="perturb inputs by a relative EPS (see testbed.perturb)")
    cluster_options(s)
    s.set_defaults(func=cmd_check)
    s = sub.add_parser("figures", parents=[folder],
                       help="regenerate figures and the claims report")
    s.add_argument("ids", nargs="*", help="claim ids (default: all)")
    s.add_argument("--scale", default="paper", help=SCALE_HELP + " (default paper)")
    s.add_argument("--out", default="figures")
    s.add_argument("--perturb", type=float, default=None, metavar="EPS",
                   help="perturb inputs by a relative EPS (see testbed.perturb)")
    cluster_options(s)
    s.set_defaults(func=cmd_figures)
    s = sub.add_parser("verify", parents=[folder],
                       help="check landscapes against their declarations (testbed.verify)")
    s.add_argument("names", nargs="*",
                   help="landscape names (default: those of --folder, else all)")
    s.add_argument("--d", type=int, default=5,
                   help="dimension of entries that work in any d (default 5)")
    s.add_argument("--points", type=int, default=3,
                   help="seeded points for the derivative checks (default 3)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_verify)
    s = sub.add_parser("sweep", parents=[folder],
                       help="run an experiment over a parameter grid, task by task, locally "
                            "or on a Dask cluster (testbed.sweep)")
    s.add_argument("experiment",
                   help="a claim id, 'module:function' or 'path/file.py:function'")
    s.add_argument("--grid", nargs="+", default=[], metavar="NAME=VALUES",
                   help="axes: 'min:max:num', 'a,b,c' or one value, e.g. d=10:100:4 "
                        "eta=0.1,0.2")
    s.add_argument("--seeds", default=None,
                   help="'start:stop' (range), 'a,b,c' or one integer (default: the "
                        "claim scale's seed, else 0)")
    s.add_argument("--scale", default="quick",
                   help="the claim scale the parameters start from (default quick)")
    s.add_argument("--out", default=None, help="folder of the tables (default "
                                               "sweeps/<experiment>)")
    s.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="a Dask scheduler, e.g. tcp://host:8786 (default "
                        "$TESTBED_SCHEDULER; none: a local process pool)")
    s.add_argument("--fallback-local", action="store_true",
                   help="run locally if the scheduler does not answer")
    s.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                   help="how long to wait for the scheduler to answer (default 5)")
    s.add_argument("--workers", type=int, default=None,
                   help="local pool size (default: the CPU count; 0: in this process)")
    s.add_argument("--quiet", action="store_true", help="no progress lines")
    s.set_defaults(func=cmd_sweep)
    s = sub.add_parser("bench", help="run the standard benchmark workloads (all, or B1 B2 ...), "
                                     "each against its bound on this machine")
    s.add_argument("name", nargs="*", help="workloads to run (default: every one)")
    s.add_argument("--record", metavar="PATH",
                   help="also write the records, with the date and the machine, as JSON")
    s.add_argument("--json", action="store_true")
    s.add_argument("--threads", type=int, default=None)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_bench)
    return p


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"testbed: warning: {message}", file=sys.stderr)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            from .objective.registry import add_folder
            for folder in getattr(args, "folder", []):
                add_folder(folder)
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
