"""The dev kit's `resetbot` sub-commands, plugged into bot/cli.py through the `resetbot.commands` entry points.

Each entry point takes the CLI's sub-parsers and adds its command (pyproject.toml names
them). The work is imported only when the command runs, so `resetbot --help` stays fast.
"""

from __future__ import annotations

import argparse


def demo(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("demo", help="the whole flow on this machine: sandbox providers, simulated Slack")
    parser.set_defaults(handler=_demo)


def sandbox(commands: argparse._SubParsersAction) -> None:
    from devkit.sandbox.command import DESCRIPTION, add_arguments

    parser = commands.add_parser("sandbox", help="serve the sandbox MyOwnFreeHost and Namecheap APIs on 127.0.0.1",
                                 description=DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(handler=_sandbox)


def _demo(args: argparse.Namespace) -> int:
    from devkit.demo import run_demo

    return run_demo()


def _sandbox(args: argparse.Namespace) -> int:
    from devkit.sandbox.command import run

    return run(args)
