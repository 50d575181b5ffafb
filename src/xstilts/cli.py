"""The `xstilts` command line.

Each subcommand lives in `xstilts.commands.<name>` and exposes `add_parser(subparsers)`, which
registers its arguments and sets `handler`. Exit codes: 0 success, 1 internal error (a bug),
2 user error (bad input, bad spec, unknown name) or full / read-only storage, reported as one line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from xstilts.errors import XStiltsError, storage_problem
from xstilts.version import __version__

COMMANDS = [
    "demo", "run", "plan", "results", "tasks", "report", "evaluate", "export", "select", "synthetic",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xstilts",
        description="Cross-lingual intermediate-task training (STILTs) for encoder and decoder models.",
    )
    parser.add_argument("--version", action="version", version=f"xstilts {__version__}")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true", help="print only errors and the final summary")
    verbosity.add_argument("-v", "--verbose", action="store_true", help="print debug logging")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"xstilts.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"xstilts.commands.{name}":
                continue  # command not built yet
            raise
        module.add_parser(subparsers)
    return parser


# Libraries that give their own logger a handler of its own (printing raw) when they are imported.
NOISY_LIBRARIES = ("transformers", "datasets", "huggingface_hub", "accelerate", "urllib3", "filelock", "matplotlib", "httpx")


class PrintedOnce(logging.Filter):
    """Keeps a record from the root handler when a handler on its way up has printed it already.

    datasets and huggingface_hub add a stream handler to their own logger on import and let records
    propagate too, so each of their lines came out twice (raw, then through rich). Which handler
    prints does not depend on import order: the library's own, once."""

    def filter(self, record: logging.LogRecord) -> bool:
        logger: logging.Logger | None = logging.getLogger(record.name)
        while logger is not None and logger is not logging.root:
            if logger.handlers:
                return False
            if not logger.propagate:
                break
            logger = logger.parent
        return True


def configure_logging(quiet: bool, verbose: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    from rich.logging import RichHandler

    handler = RichHandler(show_path=False, rich_tracebacks=False, markup=False)
    handler.addFilter(PrintedOnce())
    logging.basicConfig(level=level, format="%(message)s", datefmt="[%X]", handlers=[handler], force=True)
    library_level = logging.ERROR if not verbose else logging.INFO
    for noisy in NOISY_LIBRARIES:
        logging.getLogger(noisy).setLevel(library_level)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not verbose:
        # Read when each library is imported (later), which resets its logger's level.
        for variable in ("TRANSFORMERS_VERBOSITY", "DATASETS_VERBOSITY", "HF_HUB_VERBOSITY"):
            os.environ.setdefault(variable, "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ["XSTILTS_QUIET"] = "1" if quiet else ""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    configure_logging(args.quiet, args.verbose)
    try:
        code = int(args.handler(args) or 0)
        sys.stdout.flush()  # inside the try: a closed pipe fails here, not at interpreter exit
        return code
    except BrokenPipeError:
        return _stdout_closed()
    except XStiltsError as err:
        if args.debug:
            raise
        print(f"xstilts: error: {err}", file=sys.stderr)
        return err.exit_code
    except Exception as err:
        problem = storage_problem(err)
        if problem is None or args.debug:
            raise
        print(f"xstilts: error: cannot write: {problem}; free space or use a writable folder, then run again", file=sys.stderr)
        return XStiltsError.exit_code
    except KeyboardInterrupt:
        print("xstilts: interrupted", file=sys.stderr)
        return 130


def _stdout_closed() -> int:
    """The reader of stdout went away (`xstilts results ... | head`): stop quietly, as the Python
    docs' note on SIGPIPE advises, pointing stdout at devnull so the exit flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (captured in-process)
        pass
    return 1


if __name__ == "__main__":
    sys.exit(main())
