"""The `xdscp` command's entry point: `xdscp.cli` without a traceback for Ctrl-C while
it is still importing (a second or more: translators, pydantic models, grpc). From
then on `xdscp.cli_errors.HygienicGroup` and the commands' own handlers take over."""

from __future__ import annotations

import sys

INTERRUPTED_EXIT_CODE = 130  # as `xdscp.cli_errors` (not imported: it is part of the wait)


def main() -> None:
    try:
        from xdscp.sources import prestart

        prestart.start(sys.argv[1:])  # a cold serve's files decode while the rest imports
        from xdscp.cli import main as cli
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(INTERRUPTED_EXIT_CODE) from None
    cli()


if __name__ == "__main__":
    main()
