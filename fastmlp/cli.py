"""The `fastmlp` command: `fastmlp serve MODEL` (see fastmlp.serve); the benchmark is
`fastmlp-bench`."""
import sys
from typing import Optional


def main(argv: Optional[list[str]] = None) -> int:
    """Runs a subcommand: `serve`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] != "serve":
        print("usage: fastmlp serve MODEL [--host HOST] [--port PORT] [--name NAME] "
              "[--max-body-bytes N]\n(the benchmark is the command fastmlp-bench)", file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    from fastmlp import serve
    return serve.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
