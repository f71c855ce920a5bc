"""Fuzz deltaprop's file readers: model files, checkpoints, CSV and NPZ data (issue 9).

    python tests/fuzz/fuzz.py run [--trials N] [--targets model,csv] [--jobs 2] [--json F]
    python tests/fuzz/fuzz.py repro TARGET SEED [--keep FOLDER]

``run`` mutates each target's pristine file ``N`` times (seeds ``--start`` .. ``--start+N-1``)
in guarded worker processes (a timer per trial, a cap on memory; see :mod:`fuzz_driver`) and prints
one row per target (trials; identical loads; accepted: a changed data file loaded faithfully
or a hand-edited checkpoint resumed within its invariants; clean errors, DeltapropError; wrong
outcomes by kind; hangs), then each distinct failure (kind and mutation family) with a seed
that reproduces it. It exits 1 when there is a wrong outcome or a hang.

``repro`` runs one trial in this process and prints what the mutation was, what happened and
the traceback; ``--keep`` leaves the mutated file in a folder to look at.

The targets and what "identical" and "accepted" mean for each: :mod:`fuzz_files`,
:mod:`fuzz_data`; the outcomes: :mod:`fuzzcore`.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import sys
import time

import fuzz_driver as driver

TARGET_NAMES = ("model", "checkpoint", "checkpoint-edit", "csv", "csv-cli", "npz", "npz-cli")
OK = ("identical", "accepted", "error", "skipped")


def summarize(records: list[dict]) -> dict:
    """Counts of one target's records, the wrong ones by kind, the distinct failures."""
    counts = collections.Counter(r["outcome"] for r in records)
    wrong = collections.Counter(r["kind"] for r in records if r["outcome"] == "wrong")
    failures: dict[tuple[str, str], dict] = {}
    for r in records:
        if r["outcome"] in ("wrong", "hang"):
            key = (r["kind"], r["family"])
            entry = failures.setdefault(
                key,
                {
                    "kind": r["kind"],
                    "family": r["family"],
                    "count": 0,
                    "seed": r["seed"],
                    "description": r["description"],
                    "detail": r["detail"][:200],
                },
            )
            entry["count"] += 1
    return {
        "trials": len(records),
        "identical": counts["identical"],
        "accepted": counts["accepted"],
        "errors": counts["error"],
        "skipped": counts["skipped"],
        "wrong": sum(wrong.values()),
        "wrong_by_kind": dict(wrong.most_common()),
        "hangs": counts["hang"],
        "failures": sorted(failures.values(), key=lambda f: -f["count"]),
    }


def table(results: dict[str, dict]) -> str:
    """The Markdown table of the summaries, one row per target."""
    rows = [
        "| target | trials | identical | accepted | clean errors | wrong outcomes (by kind) "
        "| hangs |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for name, s in results.items():
        kinds = "; ".join(f"{n} {k}" for k, n in s["wrong_by_kind"].items())
        wrong = f"{s['wrong']}" + (f" ({kinds})" if kinds else "")
        skipped = f" (+{s['skipped']} skipped)" if s["skipped"] else ""
        rows.append(
            f"| {name} | {s['trials']}{skipped} | {s['identical']} | {s['accepted']} "
            f"| {s['errors']} | {wrong} | {s['hangs']} |"
        )
    return "\n".join(rows)


def failure_list(results: dict[str, dict]) -> str:
    lines = []
    for name, s in results.items():
        for f in s["failures"]:
            lines.append(
                f"- {name}: {f['kind']} [{f['family']}] x{f['count']}, e.g. seed "
                f"{f['seed']}: {f['description']} -> {f['detail'][:120]}"
            )
    return "\n".join(lines) or "(none)"


def machine() -> str:
    """The CPU model, its count, Python and the OS, for the table's caption."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"


def cmd_run(args: argparse.Namespace) -> int:
    names = args.targets.split(",") if args.targets else list(TARGET_NAMES)
    unknown = [n for n in names if n not in TARGET_NAMES]
    if unknown:
        sys.exit(f"fuzz.py: unknown target(s) {unknown}; known: {', '.join(TARGET_NAMES)}")
    source = driver.deltaprop_source()
    results, began = {}, time.monotonic()
    for name in names:
        t0 = time.monotonic()
        records = driver.run_target(
            name,
            args.start,
            args.start + args.trials,
            args.jobs,
            args.timeout,
            args.memory,
            args.rss,
        )
        results[name] = summarize(records)
        if args.records:
            with open(args.records, "a") as f:
                f.writelines(json.dumps({"target": name, **r}) + "\n" for r in records)
        results[name]["seconds"] = round(time.monotonic() - t0, 1)
        if not args.quiet:
            print(
                f"{name}: {results[name]['trials']} trials in {results[name]['seconds']} s",
                file=sys.stderr,
                flush=True,
            )
    print(table(results))
    print(
        f"\nseeds {args.start}..{args.start + args.trials - 1} per target; deltaprop from "
        f"{source}; {time.monotonic() - began:.0f} s on {machine()}"
    )
    print("\ndistinct failures (kind [mutation family] count, a reproducing seed):")
    print(failure_list(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    bad = sum(s["wrong"] + s["hangs"] for s in results.values())
    return 1 if bad else 0


def cmd_repro(args: argparse.Namespace) -> int:
    import tempfile

    import fuzz_targets as targets
    from fuzzcore import trial

    target = targets.TARGETS[args.target]()
    with tempfile.TemporaryDirectory() as workdir:
        target.setup(workdir)
        record = trial(target, args.seed, workdir, args.timeout, tb=True, keep=args.keep)
    for key in ("seed", "family", "description", "outcome", "kind", "detail"):
        print(f"{key:12} {record[key]}")
    if "traceback" in record:
        print(record["traceback"])
    if args.keep:
        print(f"the mutated file is in {args.keep}")
    return 0 if record["outcome"] in OK else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run N trials per target and print the table")
    run.add_argument("--trials", type=int, default=200, help="trials per target")
    run.add_argument("--start", type=int, default=0, help="the first seed")
    run.add_argument("--targets", help=f"comma-separated, of {', '.join(TARGET_NAMES)}")
    run.add_argument("--jobs", type=int, default=1, help="worker processes per target")
    run.add_argument("--timeout", type=float, default=5.0, help="seconds per trial")
    run.add_argument("--memory", type=int, default=1024, help="MiB a worker may add after setup")
    run.add_argument("--rss", type=int, default=256, help="MiB of peak growth a trial may cause")
    run.add_argument("--json", help="write the summaries to this file")
    run.add_argument("--records", help="append every trial's record to this file (JSON lines)")
    run.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    rep = sub.add_parser("repro", help="run one trial here, with its traceback")
    rep.add_argument("target", choices=TARGET_NAMES)
    rep.add_argument("seed", type=int)
    rep.add_argument("--timeout", type=float, default=5.0)
    rep.add_argument("--keep", help="a folder to leave the mutated file in")
    wrk = sub.add_parser("worker", help="(internal) the worker process of run")
    for name, kind in (
        ("target", str),
        ("start", int),
        ("stop", int),
        ("out", str),
        ("timeout", float),
        ("memory", int),
        ("rss", int),
    ):
        wrk.add_argument(name, type=kind)
    args = parser.parse_args(argv)
    if args.command == "worker":
        driver.worker(
            args.target, args.start, args.stop, args.out, args.timeout, args.memory, args.rss
        )
        return 0
    return cmd_run(args) if args.command == "run" else cmd_repro(args)


if __name__ == "__main__":
    sys.exit(main())
