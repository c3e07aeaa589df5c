"""The one runner behind every stage command (``python -m gvae.data|train|evaluate|export``).

Exit codes, the same for every command:

* ``0`` (:data:`EXIT_OK`): done;
* ``1`` (:data:`EXIT_FAILED`): the command ran but a verification or comparison failed
  (:class:`gvae.errors.VerificationError`);
* ``2`` (:data:`EXIT_BAD_INPUT`): bad input or configuration: any other
  :class:`gvae.errors.GvaeError` (which names file, row and field where they are known), or a
  file that cannot be opened. ``argparse`` also exits with 2 on a bad command line.

The error is logged as ONE line, ``<ErrorType>: <message>``, on the stage's logger; never a
traceback. Any other exception is a bug and propagates with its traceback.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from gvae.errors import GvaeError, VerificationError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

#: operating-system errors that mean "this path is wrong" (bad input), not a bug
BAD_PATH_ERRORS: tuple[type[OSError], ...] = (FileNotFoundError, FileExistsError, IsADirectoryError,
                                              NotADirectoryError, PermissionError)


def one_line(exc: BaseException) -> str:
    """``"<ErrorType>: <message>"`` with the message's line breaks folded into ``"; "``."""
    parts = [part.strip() for part in str(exc).splitlines() if part.strip()]
    return f"{type(exc).__name__}: {'; '.join(parts)}" if parts else type(exc).__name__


def exit_code(exc: BaseException) -> int:
    """The exit code of a command that stopped with ``exc`` (see the module docstring)."""
    return EXIT_FAILED if isinstance(exc, VerificationError) else EXIT_BAD_INPUT


def run_stage(logger: str | logging.Logger, body: Callable[[], int | None]) -> int:
    """Run ``body`` (a stage command after argument parsing) and return its exit code.

    ``body`` returns an exit code or ``None`` (= 0). A :class:`GvaeError` or a bad path
    (:data:`BAD_PATH_ERRORS`) it raises is logged as one line on ``logger`` and mapped to 1
    (verification failed) or 2 (bad input or config)."""
    log = logging.getLogger(logger) if isinstance(logger, str) else logger
    try:
        return int(body() or EXIT_OK)
    except (GvaeError, *BAD_PATH_ERRORS) as exc:
        log.error("%s", one_line(exc))
        return exit_code(exc)
