"""python -m acceptance.node PROGRAM [--qpu NAME] [options] — run one acceptance program
against the job's QPU and print ``QPUSITE-RESULT <json>`` (exit 0), or
``QPUSITE-ERROR <message>`` (exit 1). Exit 2: bad arguments."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

RESULT_PREFIX = "QPUSITE-RESULT "
ERROR_PREFIX = "QPUSITE-ERROR "


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _assignment(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m acceptance.node", description=__doc__)
    p.add_argument("program", choices=["probe", "hybrid", "ghz", "qv", "mirror", "quench", "qscore", "plant", "escape"])
    p.add_argument("--qpu", help="resource name (default: the job's only QPU)")
    p.add_argument("--shots", type=int, default=None, help="shots per circuit / runs per sequence")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--tasks", type=int, default=4, help="hybrid: quantum tasks, a classical pause between them")
    p.add_argument("--pause", type=float, default=2.0, help="hybrid: seconds of each classical pause")
    p.add_argument("--qubits", type=int, default=4, help="GHZ width")
    p.add_argument("--max-n", type=int, default=4, help="largest QV width")
    p.add_argument("--trials", type=int, default=100, help="QV model circuits per width")
    p.add_argument("--widths", type=_ints, default=[2, 4], help="mirror widths, e.g. 2,4,6")
    p.add_argument("--depths", type=_ints, default=[2, 4, 8], help="mirror depths, e.g. 2,4,8")
    p.add_argument("--sizes", type=_ints, default=[4, 5, 6], help="Q-score sizes")
    p.add_argument("--atoms", type=int, default=6, help="quench ring size")
    p.add_argument("--eps", type=float, default=0.0, help="quench: P(read 1 | 0) of the device")
    p.add_argument("--eps-prime", type=float, default=0.0, help="quench: P(read 0 | 1) of the device")
    p.add_argument("--env", type=_assignment, action="append", default=[], metavar="KEY=VALUE",
                   help="set in this program's environment before the QPU is opened (drills: code that points "
                        "qrmi somewhere else than the job was given)")
    p.add_argument("--foreign", default=None,
                   help="escape: another job's task/batch id that this job must not reach (from 'plant')")
    p.add_argument("--c6", type=float, default=None,
                   help="quench: C6 (rad µm^6/µs) when the QPU does not advertise its device")
    return p


def run(args: argparse.Namespace) -> dict[str, object]:
    from acceptance.node import programs
    from acceptance.node.qpu import open_qpu

    os.environ.update(dict(args.env))
    qpu = open_qpu(args.qpu)
    shots = args.shots
    if args.program in ("plant", "escape"):
        from acceptance.node import escape

        if args.program == "plant":
            return escape.plant(qpu)
        if not args.foreign:
            raise ValueError("escape needs --foreign ID (a task of another job, from 'plant')")
        return escape.escape(qpu, args.foreign)
    if args.program == "probe":
        return programs.probe(qpu, shots or 500, args.seed)
    if args.program == "hybrid":
        if not 1 <= args.tasks <= 100 or not 0 <= args.pause <= 600:
            raise ValueError(f"hybrid needs 1 <= --tasks <= 100 and 0 <= --pause <= 600 "
                             f"(got {args.tasks}, {args.pause})")
        return programs.hybrid(qpu, args.tasks, args.pause, shots or 200, args.seed)
    if args.program == "ghz":
        return programs.ghz(qpu, args.qubits, shots or 1000, args.seed)
    if args.program == "qv":
        return programs.quantum_volume(qpu, args.max_n, args.trials, shots or 200, args.seed or 11)
    if args.program == "mirror":
        return programs.mirror(qpu, args.widths, args.depths, 3, shots or 300, args.seed or 5)
    if args.program == "quench":
        return programs.quench(qpu, args.atoms, runs=shots or 500, eps=args.eps, eps_prime=args.eps_prime,
                               c6=args.c6)
    return programs.qscore(qpu, args.sizes, 5, shots or 500, args.seed or 3)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result = run(args)
    except Exception as exc:  # one line the controller can show; the traceback is not for users
        print(f"{ERROR_PREFIX}{type(exc).__name__}: {exc}", flush=True)
        return 1
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
