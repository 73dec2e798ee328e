"""Run `resetbot run` with a sampling profiler in the process (bench --profile): where the busy time goes.

    BENCH_PROFILE_OUT=/tmp/prof.txt .venv/bin/python bench/profile_launch.py

Every 3 ms a thread looks at every other thread's Python stack (sys._current_frames) and counts
it when the kernel has that thread running (/proc/self/task/<tid>/stat state R); with
BENCH_PROFILE_MODE=wall, whenever its innermost frame is not a place threads wait in (a lock,
a queue, select, a socket read, sleep), so time blocked inside SQLite counts too. At exit
(SIGTERM) it writes, per function, the samples it was on the stack for (inclusive) and
innermost in (self). BENCH_PROFILE_MODE=cprofile instead runs a cProfile per thread, timed by
that thread's CPU clock (slower, but it sees the Python work the sampler's GIL hides).
py-spy would be better; it cannot read this machine's Python.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter

IDLE_LEAVES = {
    ("threading.py", "wait"), ("threading.py", "_wait_for_tstate_lock"), ("queue.py", "get"),
    ("selectors.py", "select"), ("socket.py", "readinto"), ("ssl.py", "read"), ("ssl.py", "recv_into"),
    ("connection.py", "_fetch_messages"), ("threading.py", "acquire"), ("client.py", "_read_status"),
    ("thread.py", "_worker"), ("_base.py", "result"), ("_base.py", "wait"),
}
IDLE_NAMES = {"sleep", "wait", "select", "poll", "recv", "recv_into", "accept", "readinto", "acquire"}

inclusive: Counter[str] = Counter()
self_time: Counter[str] = Counter()
total = [0, 0]  # busy samples, all samples
lock = threading.Lock()
ON_CPU = os.environ.get("BENCH_PROFILE_MODE", "cpu") == "cpu"  # "wall": busy = not waiting, blocked in C included


def _key(frame) -> str:
    code = frame.f_code
    return f"{code.co_filename.rsplit('site-packages/', 1)[-1].replace(os.getcwd() + '/', '')}:{code.co_name}"


def sample() -> None:
    me = threading.get_ident()
    while True:
        time.sleep(0.003)
        native = {t.ident: t.native_id for t in threading.enumerate()}
        for ident, frame in sys._current_frames().items():
            if ident == me:
                continue
            total[1] += 1
            if ON_CPU:  # counted only while the kernel has the thread running (state R)
                try:
                    with open(f"/proc/self/task/{native.get(ident)}/stat") as stat:
                        if stat.read().rsplit(")", 1)[1].split()[0] != "R":
                            continue
                except OSError:
                    continue
            else:
                leaf = frame.f_code
                if (leaf.co_filename.rsplit("/", 1)[-1], leaf.co_name) in IDLE_LEAVES or leaf.co_name in IDLE_NAMES:
                    continue
            total[0] += 1
            self_time[_key(frame)] += 1
            seen = set()
            while frame is not None:
                k = _key(frame)
                if k not in seen:
                    inclusive[k] += 1
                    seen.add(k)
                frame = frame.f_back


def dump() -> None:
    out = os.environ.get("BENCH_PROFILE_OUT", "/tmp/resetbot-profile.txt")
    busy = max(total[0], 1)
    with open(out, "w") as f:
        f.write(f"busy samples {total[0]} of {total[1]}\n\ninclusive\n")
        for k, v in inclusive.most_common(120):
            f.write(f"{v:7d} {100 * v / busy:5.1f}% {k}\n")
        f.write("\nself\n")
        for k, v in self_time.most_common(60):
            f.write(f"{v:7d} {100 * v / busy:5.1f}% {k}\n")


profiles: list = []


def _profile_thread(*_args) -> None:
    """BENCH_PROFILE_MODE=cprofile: a cProfile per thread, timed by the thread's own CPU clock."""
    import cProfile

    sys.setprofile(None)
    profile = cProfile.Profile(time.thread_time)
    with lock:
        profiles.append(profile)
    profile.enable()


def dump_cprofile() -> None:
    import pstats

    out = os.environ.get("BENCH_PROFILE_OUT", "/tmp/resetbot-profile.txt")
    with lock:
        for p in profiles:
            p.disable()
        stats = pstats.Stats(*profiles) if profiles else None
    if stats is None:
        return
    with open(out, "w") as f:
        stats.stream = f  # type: ignore[attr-defined]
        stats.sort_stats("cumulative").print_stats(150)
        stats.sort_stats("tottime").print_stats(60)


def main() -> int:
    cprofile = os.environ.get("BENCH_PROFILE_MODE") == "cprofile"
    if cprofile:
        threading.setprofile(_profile_thread)
    else:
        threading.Thread(target=sample, name="bench-sampler", daemon=True).start()
    from bot.cli import main as resetbot

    try:
        return resetbot(["run"])
    finally:
        dump_cprofile() if cprofile else dump()


if __name__ == "__main__":
    raise SystemExit(main())
