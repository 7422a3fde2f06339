"""`qpusite` command line. Each sub-command lives in qpusite/commands/<name>.py and
exposes ``register(subparsers)``; this module only wires them together and maps
errors to exit codes (0 ok, 1 the work found a failure, 2 bad input)."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from qpusite import __version__, commands
from site_survey.errors import SiteModelError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every sub-command, or with just ``only`` when that names one: a command imports
    what it needs (the rehearsal and acceptance machinery are heavy), so `validate` does not pay for `up`."""
    parser = _Parser(
        prog="qpusite",
        description=(
            "Turn one site model (inventories/<site>/site.yaml) into a facility survey, "
            "an Ansible rollout, cloud stacks, a local rehearsal and acceptance runs."
        ),
        epilog="Exit status: 0 ok, 1 the command ran and found a failure, 2 bad input (nothing written).",
    )
    parser.add_argument("--version", action="version", version=f"qpusite {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    names = sorted(info.name for info in pkgutil.iter_modules(commands.__path__))
    for name in [only] if only in names else names:
        module = importlib.import_module(f"qpusite.commands.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(words[0] if words and not words[0].startswith("-") else None)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return int(args.handler(args))
    except SiteModelError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
