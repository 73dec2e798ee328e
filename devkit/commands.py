"""The dev kit's `resetbot` sub-commands, plugged into bot/cli.py through the `resetbot.commands` entry points.

Each entry point takes the CLI's sub-parsers and adds its command (pyproject.toml names
them). The work is imported only when the command runs: every `resetbot` command builds
this parser, and the runtime should not load the dev kit's servers to do so.
"""

from __future__ import annotations

import argparse

SANDBOX_DESCRIPTION = "Serve the sandbox MyOwnFreeHost, Namecheap and cPanel APIs on 127.0.0.1 until SIGINT/SIGTERM."


def demo(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("demo", help="the whole flow on this machine: sandbox providers, simulated Slack")
    parser.set_defaults(handler=_demo)


def sandbox(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("sandbox", help="serve the sandbox provider APIs on 127.0.0.1",
                                 description=SANDBOX_DESCRIPTION)
    add_sandbox_options(parser)
    parser.set_defaults(handler=_sandbox)


def add_sandbox_options(parser: argparse.ArgumentParser) -> None:
    """The options of `resetbot sandbox`, shared with `devkit.sandbox.serve`."""
    parser.add_argument(
        "--seed", help="JSON seed file (mofh_accounts, namecheap_users, cpanel_accounts); default: built-in demo seed"
    )
    parser.add_argument("--mofh-port", type=int, default=0, metavar="PORT",
                        help="the MyOwnFreeHost sandbox's port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--namecheap-port", type=int, default=0, metavar="PORT",
                        help="the Namecheap sandbox's port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--cpanel-port", type=int, default=0, metavar="PORT",
                        help="the cPanel sandbox's port on 127.0.0.1 (default: any free port)")


def _demo(args: argparse.Namespace) -> int:
    from devkit.demo import run_demo

    return run_demo()


def _sandbox(args: argparse.Namespace) -> int:
    from devkit.sandbox.command import run

    return run(args)
