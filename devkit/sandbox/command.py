"""`resetbot sandbox`: serve the fake providers on 127.0.0.1 and print how to point the bot at them."""

from __future__ import annotations

import argparse
import signal
import sys
import time

from bot.providers import registry
from devkit.commands import SANDBOX_DESCRIPTION, add_sandbox_options
from devkit.sandbox.sandbox import Sandbox
from devkit.sandbox.seed import default_seed, load_seed


class _Stop(Exception):
    pass


def serve(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="resetbot sandbox", description=SANDBOX_DESCRIPTION)
    add_sandbox_options(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM, having printed the URLs and credentials to give the bot."""
    seed = load_seed(args.seed) if args.seed else default_seed()
    sandbox = Sandbox(seed=seed, mofh_port=args.mofh_port, namecheap_port=args.namecheap_port,
                      cpanel_port=args.cpanel_port, plesk_port=args.plesk_port)

    stopping = {"raised": False}

    def on_signal(signum, frame):
        if not stopping["raised"]:
            stopping["raised"] = True
            raise _Stop()

    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    except ValueError:  # not the main thread: rely on KeyboardInterrupt / the caller
        previous = {}

    try:
        sandbox.start()
        out = sys.stdout
        for name, environment in sandbox.bot_environments().items():
            plugin = registry.by_name(name)
            print(f"{plugin.label if plugin else name} sandbox: {environment.url}", file=out)
            for variable, value in environment.variables.items():
                print(f"  {variable}={value}", file=out)
        print("Sandbox credentials only; press Ctrl-C to stop.", file=out, flush=True)
        while True:
            time.sleep(3600)
    except (_Stop, KeyboardInterrupt):
        pass
    finally:
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(serve())
