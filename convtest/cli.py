"""The ``convtest`` command; one subcommand per job, each a small function taking parsed args."""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Callable, Sequence

__all__ = ["main"]

_Command = Callable[[argparse.Namespace], int]
_MAX_PORT = 65535


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``convtest <command> ...`` and return the exit code."""
    args = _parser().parse_args(argv)
    command: _Command = args.command
    return command(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="convtest", description=__doc__)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _add_serve(commands)
    return parser


def _add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the reference agent (Robofy chat stream API) until Ctrl-C",
        description="Run the embedded reference agent, the default target of convtest suites.",
    )
    serve.add_argument("--port", type=int, default=8765, help="port to listen on; 0 picks a free one")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    serve.add_argument(
        "--token", default=None, help="bearer token clients must send; an empty string turns auth off"
    )
    serve.add_argument("--latency-ms", type=_milliseconds, default=0.0, help="delay before the first token")
    serve.add_argument("--token-latency-ms", type=_milliseconds, default=0.0, help="delay between tokens")
    serve.add_argument(
        "--max-body-bytes", type=int, default=None, help="largest request body served (default: 1 MiB)"
    )
    serve.set_defaults(command=_serve)


def _milliseconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected milliseconds >= 0, got {text!r}")
    return value


def _serve(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= _MAX_PORT:
        # One line and exit code 2, as argparse does for usage errors, without its usage banner.
        print(f"convtest serve: --port must be 0-{_MAX_PORT}, got {args.port}", file=sys.stderr)
        return 2
    if args.max_body_bytes is not None and args.max_body_bytes < 1:
        print(
            f"convtest serve: --max-body-bytes must be at least 1, got {args.max_body_bytes}", file=sys.stderr
        )
        return 2
    # Imported here so that other commands do not pay for starlette and uvicorn.
    from convtest.server.app import DEFAULT_MAX_BODY_BYTES, DEFAULT_TOKEN
    from convtest.server.runner import serve_forever

    token = DEFAULT_TOKEN if args.token is None else (args.token or None)
    max_body_bytes = DEFAULT_MAX_BODY_BYTES if args.max_body_bytes is None else args.max_body_bytes

    def announce(url: str) -> None:
        print(f"convtest reference agent listening on {url}")
        print(f"token: {token}" if token else "token: none (authentication off)")
        print("press Ctrl-C to stop", flush=True)

    try:
        serve_forever(
            args.host,
            args.port,
            token,
            args.latency_ms,
            args.token_latency_ms,
            max_body_bytes=max_body_bytes,
            on_ready=announce,
        )
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"convtest serve: cannot listen on {args.host}:{args.port}: {_why(exc)}", file=sys.stderr)
        return 1
    return 0


def _why(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "the port is already in use (--port 0 picks a free one)"
    return str(exc)


if __name__ == "__main__":
    sys.exit(main())
