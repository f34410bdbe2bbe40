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
    finish_help(parser)
    return parser


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the help already names it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if shows_default(action) and "default" not in text:
            text += " (default: %(default)s)"
        return text


def shows_default(action: argparse.Action) -> bool:
    """Whether an option has a default worth showing (not None, a flag's False, or suppressed)."""
    return (
        bool(action.option_strings)
        and action.default is not None
        and action.default is not False  # a flag's; 0 and 0.0 are shown
        and action.default != argparse.SUPPRESS
        and not isinstance(action, argparse._HelpAction | argparse._VersionAction)
    )


def finish_help(parser: argparse.ArgumentParser) -> None:
    """Every sub-command, at any depth, gets a description (its one-line help where it has none) and
    help that shows each option's default."""
    for action in parser._actions:
        if shows_default(action) and not action.help:
            action.help = "(default: %(default)s)"
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help for choice in action._choices_actions}
        for name, sub in action.choices.items():
            if sub.add_help:  # not a placeholder for a command not loaded
                sub.description = sub.description or helps.get(name)
                if sub.formatter_class is argparse.HelpFormatter:
                    sub.formatter_class = DefaultsHelpFormatter
                finish_help(sub)


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
