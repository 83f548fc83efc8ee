"""The one error policy of every console entry point.

Used by segnet, segnet-eval, segnet-download, segnet-build-engine and ``python -m seg_ros.demo``. Exit status:
0 success; 2 user error (:class:`~seg_ros.errors.UserError`: bad model, bad path, bad parameter; argparse usage
errors exit 2 too); 1 runtime failure (:class:`~seg_ros.errors.RuntimeFailure`, or an ``OSError`` nobody turned
into a seg_ros error); 130 interrupted (Ctrl-C). Errors are one line on stderr, ``PROG: error: MESSAGE``, without
a traceback. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from seg_ros.errors import EXIT_FAILURE, EXIT_INTERRUPTED, SegRosError, one_line


def run_cli(prog: str, main_fn: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run ``main_fn(argv)`` and return its exit status, or the status of the error it raised (see module doc).

    ``main_fn`` parses its own arguments (``SystemExit`` from argparse passes through) and returns 0, or 1 when
    some items failed and it has already listed them.
    """
    try:
        return main_fn(argv)
    except SegRosError as exc:
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
