"""Fuzz every reader of user input: N seeded mutated cases each, against the reader contract.

The readers, seed files and mutators are those of ``tests/fuzz`` (:mod:`tests.fuzz.corpus`,
:mod:`tests.fuzz.mutations`); each case must read (and, where cheap, be used) or raise
``LiftGenomicsError`` with a one-line message, within the per-case time limit and without
reaching an unrestricted unpickler. Prints reader x cases x valid x clean refusals x failures
and writes the table (with the first failures of each reader) as JSON:

    nice python benchmarks/fuzz.py [--cases 10000] [--readers fasta,bed] [--seed 0]
        [--time-limit 5] [--out fuzz.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzz.corpus import READERS  # noqa: E402
from tests.fuzz.mutations import (  # noqa: E402
    ERROR,
    FAILURES,
    REFUSED,
    TIME_LIMIT,
    TIMEOUT,
    VALID,
    Outcome,
    run_case,
)

#: Readers run one case per forked process: HDF5 can loop forever in C on a damaged file
#: (holding the GIL, so the in-process alarm never fires); the parent kills such a case. (The
#: readers now also read each .h5 in a timed child, liftgenomics.models.h5read; this stays as a
#: second guard, with a shorter limit.)
ISOLATED = frozenset({"keras-h5", "chrombpnet-nobias", "chrombpnet-full"})


def run_isolated(read, seconds: float) -> Outcome:
    """:func:`run_case` in a forked child, killed ``seconds`` + 2 s in (a hang in C code)."""
    receive, send = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run the case, report its outcome, leave without clean-up
        os.close(receive)
        try:
            outcome = run_case(read, seconds)
            message = [outcome.kind, outcome.detail[:2000]]
        except BaseException as error:  # noqa: BLE001 - whatever happens is reported
            message = [ERROR, repr(error)[:2000]]
        os.write(send, json.dumps(message).encode())
        os._exit(0)
    os.close(send)
    deadline = time.monotonic() + seconds + 2
    status = 0
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(receive)
            return Outcome(TIMEOUT, f"hung in C code past {seconds + 2} s (killed)")
        time.sleep(0.001)
    with os.fdopen(receive, "rb") as pipe:
        data = pipe.read()
    if not data:
        return Outcome(ERROR, f"the case's process died (wait status {status})")
    kind, detail = json.loads(data)
    return Outcome(kind, detail)


def fuzz_reader(name: str, cases: int, seed: int, seconds: float, keep: int = 5,
                isolate: bool = False) -> dict:  # fmt: skip
    """Run ``cases`` cases of one reader; counts by outcome and the first failures."""
    reader = READERS[name]
    counts = {VALID: 0, REFUSED: 0} | {kind: 0 for kind in FAILURES}
    failures: list[dict] = []
    started = time.perf_counter()
    for index in range(cases):
        workdir = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
        try:
            rng = random.Random(f"{seed}:{name}:{index}")
            try:
                read = reader.case(rng, workdir)
            except Exception as error:  # noqa: BLE001 - a broken mutator is reported, not fatal
                counts.setdefault("mutator-error", 0)
                counts["mutator-error"] += 1
                if len(failures) < keep:
                    failures.append({"case": index, "kind": "mutator-error", "detail": repr(error)})
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outcome = (run_isolated if isolate else run_case)(read, seconds)
            counts[outcome.kind] += 1
            if outcome.failed and len(failures) < keep:
                failures.append({"case": index, "kind": outcome.kind, "detail": outcome.detail})
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    failed = sum(counts[kind] for kind in FAILURES) + counts.get("mutator-error", 0)
    seconds = round(time.perf_counter() - started, 1)
    return {"reader": name, "cases": cases, "valid": counts[VALID], "refused": counts[REFUSED],
            "failures": failed, "by_kind": counts, "seconds": seconds,
            "first_failures": failures}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases per reader")
    parser.add_argument("--readers", help="comma-separated readers (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit", type=float, default=TIME_LIMIT, help="seconds per case")
    parser.add_argument("--out", default="fuzz.json", help="the table as JSON")
    parser.add_argument("--isolate", choices=["hdf5", "all", "none"], default="hdf5",
                        help="run each case in a forked process (default: the HDF5 readers)")
    args = parser.parse_args(argv)
    names = args.readers.split(",") if args.readers else list(READERS)
    unknown = [name for name in names if name not in READERS]
    if unknown:
        parser.error(f"unknown readers {unknown}; known: {', '.join(READERS)}")
    rows = []
    header = f"{'reader':<20} {'cases':>7} {'valid':>7} {'refused':>8} {'failures':>9} {'s':>7}"
    print(header, flush=True)
    for name in names:
        isolate = args.isolate == "all" or (args.isolate == "hdf5" and name in ISOLATED)
        row = fuzz_reader(name, args.cases, args.seed, args.time_limit, isolate=isolate)
        rows.append(row)
        print(f"{row['reader']:<20} {row['cases']:>7} {row['valid']:>7} {row['refused']:>8} "
              f"{row['failures']:>9} {row['seconds']:>7}", flush=True)  # fmt: skip
        for failure in row["first_failures"]:
            print(f"    case {failure['case']}: {failure['kind']}: {failure['detail'][:300]}")
    total = sum(row["failures"] for row in rows)
    Path(args.out).write_text(json.dumps({"cases_per_reader": args.cases, "seed": args.seed,
                                          "time_limit_s": args.time_limit, "readers": rows},
                                         indent=2) + "\n")  # fmt: skip
    print(f"{total} failures in {sum(row['cases'] for row in rows)} cases; table in {args.out}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
