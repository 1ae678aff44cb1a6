"""The `optimize` command line: the main optimization command and its subcommands.

`optimize --dataset X ...` runs the optimizer. `optimize SUBCOMMAND ...` runs one of
SUBCOMMANDS. Every AgentError becomes a one-line message and its exit status.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Callable, Sequence

from agent.errors import AgentError

SubcommandMain = Callable[[Sequence[str]], int]


def _subcommands() -> dict[str, tuple[str, SubcommandMain]]:
    """Subcommand name -> (one-line help, entry point taking argv)."""

    def lazy(module: str, function: str) -> SubcommandMain:
        # Each subcommand imports its module only when it runs, so `optimize --help` stays fast.
        def main(argv: Sequence[str]) -> int:
            from importlib import import_module

            return getattr(import_module(f"agent.cli.{module}"), function)(argv)

        return main

    return {
        "runs": ("list the runs in the history database", lazy("runs", "runs_main")),
        "show": ("show a run's best ensemble, candidates and LLM usage", lazy("show", "show_main")),
        "export": ("export a run as a pack, CLIP_benchmark templates or CSV", lazy("export", "export_main")),
        "eval": ("measure a pack's accuracy on a labelled dataset", lazy("evaluate", "eval_main")),
        "report": ("write an HTML report with plots of a run", lazy("report", "report_main")),
    }


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Model loading bars from Hugging Face libraries would interleave with this tool's progress.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    subcommands = _subcommands()
    try:
        if argv and argv[0] in subcommands:
            return subcommands[argv[0]][1](argv[1:])
        from agent.cli.optimize import optimize_main

        return optimize_main(argv, subcommands={name: text for name, (text, _) in subcommands.items()})
    except AgentError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except OSError as error:
        # Files the user named (a runs folder, an output path) that cannot be read or written.
        location = f" {error.filename}" if error.filename else ""
        print(f"error: cannot use{location}: {error.strerror or error}; check the path and its permissions", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun with the same --run and --resume to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
