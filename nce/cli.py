"""The ``nce`` command.

Each area registers its own sub-commands through a ``register(subparsers)`` function; this module
only wires them together, and turns every :class:`~nce.errors.NceError` into one line on stderr with
a non-zero exit code (never a traceback).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from nce import __version__
from nce.errors import NceError

# Modules that add sub-commands. Each is imported only when the command line needs it, so that
# `nce detect` never pays for FastAPI and `nce serve` never pays for OpenCV.
COMMAND_MODULES: dict[str, str] = {
    "demo": "demo.run",
    "config": "detector.cli.config",
    "detect": "detector.cli.detect",
    "run": "detector.cli.run",
    "outbox": "detector.cli.outbox",
    "camera": "detector.cli.camera",
    "data": "modeling.cli.data",
    "model": "modeling.cli.model",
    "evidence": "detector.cli.evidence",
    "keys": "detector.cli.keys",
    "serve": "service.cli.serve",
    "db": "service.cli.db",
    "admin": "service.cli.admin",
    "ledger": "service.cli.ledger",
    "frames": "service.cli.frames",
    "dataset": "service.cli.dataset",
}


def _build_parser(only: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nce", description="NCE non-contact enforcement: edge detector and case service."
    )
    parser.add_argument("--version", action="version", version=f"nce {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module_name in COMMAND_MODULES.items():
        if only is not None and name != only:
            # a light placeholder so that `nce --help` lists every command
            sub.add_parser(name, help=f"(see: nce {name} --help)", add_help=False)
            continue
        module = importlib.import_module(module_name)
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in args_list if not a.startswith("-")), None)
    only = first if first in COMMAND_MODULES else None
    parser = _build_parser(only)
    args = parser.parse_args(args_list)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        code: int = args.func(args)
    except NceError as exc:
        print(f"nce {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug, not a user error: still one line unless -v asks for the trace
        if args.verbose:
            raise
        print(
            f"nce {args.command}: internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)",
            file=sys.stderr,
        )
        return 70
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
