"""The dev kit's `resetbot` sub-commands, plugged into bot/cli.py through the `resetbot.commands` entry points.

Each entry point takes the CLI's sub-parsers and adds its command (pyproject.toml names
them). The work is imported only when the command runs: every `resetbot` command builds
this parser, and the runtime should not load the dev kit's servers to do so. The package
ships in every install, its dependencies only with the extra `devkit`: without them a
command says in one line what to install (exit 2) instead of failing halfway through.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import metadata

EXTRA = "devkit"

DEMO_DESCRIPTION = ("The whole flow on this machine with no credentials and no network: prints the transcript of a "
                    "scripted story, or with --web serves a page to click through it yourself.")
SANDBOX_DESCRIPTION = ("Serve the sandbox MyOwnFreeHost, Namecheap, cPanel and Plesk APIs on 127.0.0.1 until "
                       "SIGINT/SIGTERM.")


def demo(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("demo", help="the whole flow on this machine: sandbox providers, simulated Slack",
                                 description=DEMO_DESCRIPTION)
    parser.add_argument("--web", action="store_true",
                        help="no scripted story: serve a page on 127.0.0.1 that shows the simulated workspace as "
                             "Slack would, to click through as each person; runs until SIGINT/SIGTERM")
    parser.add_argument("--port", type=_port, default=0, metavar="N",
                        help="with --web: the page's port on 127.0.0.1 (default: any free port; the address is "
                             "printed)")
    parser.set_defaults(handler=_demo)


def sandbox(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("sandbox", help="serve the sandbox provider APIs on 127.0.0.1",
                                 description=SANDBOX_DESCRIPTION)
    add_sandbox_options(parser)
    parser.set_defaults(handler=_sandbox)


def add_sandbox_options(parser: argparse.ArgumentParser) -> None:
    """The options of `resetbot sandbox`, shared with `devkit.sandbox.serve`."""
    parser.add_argument(
        "--seed",
        help="JSON seed file (mofh_accounts, namecheap_users, cpanel_accounts, plesk_customers); default: built-in "
             "demo seed",
    )
    parser.add_argument("--mofh-port", type=int, default=0, metavar="PORT",
                        help="the MyOwnFreeHost sandbox's port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--namecheap-port", type=int, default=0, metavar="PORT",
                        help="the Namecheap sandbox's port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--cpanel-port", type=int, default=0, metavar="PORT",
                        help="the cPanel sandbox's port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--plesk-port", type=int, default=0, metavar="PORT",
                        help="the Plesk sandbox's port on 127.0.0.1 (default: any free port)")


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535): {value!r}")
    return port


def missing_requirements(extra: str = EXTRA) -> list[str]:
    """The distributions the extra `extra` of resetbot asks for that are not installed ([] when resetbot's own
    metadata cannot be read: a source tree run as it is, which then has whatever it has)."""
    try:
        requirements = metadata.requires("resetbot") or []
    except metadata.PackageNotFoundError:
        return []
    missing = []
    for requirement in requirements:
        name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        if name is None or not re.search(rf"""extra\s*==\s*["']{re.escape(extra)}["']""", requirement):
            continue
        try:
            metadata.distribution(name.group(0))
        except metadata.PackageNotFoundError:
            missing.append(name.group(0))
    return missing


def _require_the_extra(command: str) -> None:
    missing = missing_requirements()
    if missing:
        from bot.cli import UsageError

        raise UsageError(f"{command} is part of the dev kit, whose {', '.join(missing)} is not installed: "
                         f"pip install 'resetbot[{EXTRA}]'")


def _demo(args: argparse.Namespace) -> int:
    _require_the_extra("demo")
    if args.web:
        from devkit.web.command import run_web

        return run_web(args.port)
    if args.port:
        print("resetbot demo: --port goes with --web (see resetbot demo --help)", file=sys.stderr)
        return 2
    from devkit.demo import run_demo

    return run_demo()


def _sandbox(args: argparse.Namespace) -> int:
    _require_the_extra("sandbox")
    from devkit.sandbox.command import run

    return run(args)
