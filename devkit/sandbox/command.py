"""`resetbot sandbox`: serve both fake providers on 127.0.0.1 and print how to point the bot at them."""

from __future__ import annotations

import argparse
import signal
import sys
import time

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
    sandbox = Sandbox(seed=seed, mofh_port=args.mofh_port, namecheap_port=args.namecheap_port)

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
        print(f"MyOwnFreeHost sandbox: {sandbox.mofh_url}", file=out)
        print(f"  MOFH_API_URL={sandbox.mofh_url}", file=out)
        print(f"  MOFH_API_USERNAME={sandbox.mofh_api_username}", file=out)
        print(f"  MOFH_API_PASSWORD={sandbox.mofh_api_password}", file=out)
        print(f"Namecheap sandbox: {sandbox.namecheap_url}", file=out)
        print(f"  NAMECHEAP_API_URL={sandbox.namecheap_url}", file=out)
        print(f"  NAMECHEAP_API_USER={sandbox.namecheap_api_user}", file=out)
        print(f"  NAMECHEAP_API_KEY={sandbox.namecheap_api_key}", file=out)
        print(f"  NAMECHEAP_CLIENT_IP={sandbox.namecheap_client_ip}", file=out)
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
