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

BENCH_PROFILE_MODE=work is the cheap one (it barely moves the CPU it measures): every thread-pool
job and thread, timed by its own CPU clock and named by what it runs (a Bolt listener by its
function), into PREFIX.txt.work; BENCH_PROFILE_FUNCS="module:Qual.name,…" adds those functions'
inclusive CPU to that table, BENCH_PROFILE_JOB=REGEX cProfiles the jobs whose name matches.
BENCH_PROFILE_SQL=1 (any mode) counts units of work and statements by the workflow code that ran
them, into PREFIX.txt.sql, and adds each statement's time in the driver to the work table.
Every mode also writes CPU per thread name into PREFIX.txt.threads.
"""

from __future__ import annotations

import os
import re
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
    stats.dump_stats(out + ".pstats")  # for grouping by package afterwards (pstats.Stats(path))


thread_cpu: dict[int, tuple[str, float]] = {}  # native id -> (name, CPU seconds when last seen)


def _cpu_seconds(stat_path: str) -> float:
    """User + system CPU of a process or thread, from its /proc …/stat."""
    with open(stat_path) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pool_name(name: str) -> str:
    """A thread's name without its digits: the pool it belongs to (bolt_3 -> bolt_)."""
    return "".join(c for c in name if not c.isdigit())


def watch_threads() -> None:
    """Every 0.2 s, each live thread's CPU so far: threads that end before exit are still counted."""
    while True:
        for thread in threading.enumerate():
            try:
                seconds = _cpu_seconds(f"/proc/self/task/{thread.native_id}/stat")
            except OSError:
                continue
            thread_cpu[thread.native_id or 0] = (_pool_name(thread.name), seconds)
        time.sleep(0.2)


def dump_threads() -> None:
    """CPU seconds per thread, summed by pool: which pools the CPU goes to."""
    out = os.environ.get("BENCH_PROFILE_OUT", "/tmp/resetbot-profile.txt") + ".threads"
    by_name: Counter[str] = Counter()
    for name, seconds in list(thread_cpu.values()):
        by_name[name] += seconds
    with open(out, "w") as f:
        f.write(f"process {_cpu_seconds('/proc/self/stat'):.2f} s\n")
        for name, seconds in by_name.most_common():
            f.write(f"{seconds:7.2f} s {name}\n")


work_cpu: Counter[str] = Counter()  # BENCH_PROFILE_MODE=work: CPU seconds per kind of pool job / thread
work_count: Counter[str] = Counter()


def _cells(fn) -> dict:
    """A closure's free variables by name."""
    return dict(zip(fn.__code__.co_freevars, (c.cell_contents for c in fn.__closure__), strict=True))


def _count_work() -> None:
    """Time each thread-pool job and each thread's run by its own CPU clock, keyed by what it runs."""
    from concurrent.futures import thread as pool_thread

    def _name(fn, depth: int = 0) -> str:
        """The innermost callable a job wraps (closure cells, functools.partial, bound methods)."""
        inner = getattr(fn, "func", None) or getattr(fn, "__func__", None) or fn
        if depth < 4:
            for cell in getattr(inner, "__closure__", None) or ():
                try:
                    value = cell.cell_contents
                except ValueError:
                    continue
                if callable(value) and getattr(value, "__qualname__", None) and not isinstance(value, type):
                    return _name(value, depth + 1)
        return f"{getattr(inner, '__module__', '?')}.{getattr(inner, '__qualname__', repr(inner))}"

    work_item_run = pool_thread._WorkItem.run
    job_pattern = os.environ.get("BENCH_PROFILE_JOB")

    def timed_job(self) -> None:
        key = "job " + _name(self.fn)
        if key.endswith("run_ack_function_asynchronously"):  # Bolt's listener job: name the listener
            job = self.fn
            while job.__code__.co_name != "run_ack_function_asynchronously":  # unwrap DrainableExecutor's tracked
                job = _cells(job)["fn"]
            listener = _cells(job).get("listener")
            key = f"listener {getattr(getattr(listener, 'ack_function', None), '__qualname__', listener)}"
        profile = None
        if job_pattern and re.search(job_pattern, key):  # BENCH_PROFILE_JOB: cProfile these jobs, CPU-timed
            import cProfile

            profile = cProfile.Profile(time.thread_time)
            profile.enable()
        started = time.thread_time()
        try:
            work_item_run(self)
        finally:
            if profile is not None:
                profile.disable()
                with lock:
                    profiles.append(profile)
            with lock:
                work_cpu[key] += time.thread_time() - started
                work_count[key] += 1

    pool_thread._WorkItem.run = timed_job  # type: ignore[method-assign]  # bench-only instrumentation
    thread_run = threading.Thread.run

    def timed_run(self) -> None:
        started = time.thread_time()
        try:
            thread_run(self)
        finally:
            key = "thread " + _pool_name(self.name)
            with lock:
                work_cpu[key] += time.thread_time() - started
                work_count[key] += 1

    threading.Thread.run = timed_run  # type: ignore[method-assign]  # bench-only instrumentation


def dump_work() -> None:
    out = os.environ.get("BENCH_PROFILE_OUT", "/tmp/resetbot-profile.txt") + ".work"
    with open(out, "w") as f:
        for key, seconds in work_cpu.most_common():
            f.write(f"{seconds:8.3f} s {work_count[key]:6d} x {1000 * seconds / work_count[key]:8.3f} ms  {key}\n")


sql_units: Counter[str] = Counter()  # BENCH_PROFILE_SQL=1: units of work and statements by the code that ran them
sql_statements: Counter[str] = Counter()


def _count_sql() -> None:
    import traceback

    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    here = os.getcwd() + "/"

    def caller() -> str:
        frames = [f for f in traceback.extract_stack()
                  if f.filename.startswith(here) and "/storage/" not in f.filename and "/bench/" not in f.filename
                  and "site-packages" not in f.filename]
        return " < ".join(f"{f.filename[len(here):]}:{f.name}" for f in reversed(frames[-3:])) or "other"

    @event.listens_for(Session, "after_begin")
    def _unit(_session, _transaction, _connection) -> None:
        sql_units[caller()] += 1

    started = threading.local()

    @event.listens_for(Engine, "before_cursor_execute")
    def _statement(_conn, _cursor, statement, *_rest) -> None:
        sql_statements[caller() + " :: " + " ".join(statement.split())[:70]] += 1
        started.at = time.thread_time()

    @event.listens_for(Engine, "after_cursor_execute")
    def _statement_done(_conn, _cursor, statement, *_rest) -> None:
        kind = " ".join(statement.split()[:3])[:40]
        first = not _conn.info.get("bench_seen")
        _conn.info["bench_seen"] = True
        kind = ("first " if first else "later ") + kind
        with lock:
            work_cpu["driver " + kind] += time.thread_time() - started.at
            work_count["driver " + kind] += 1

    @event.listens_for(Engine, "commit")
    def _commit(conn) -> None:
        conn.info.pop("bench_seen", None)

    @event.listens_for(Engine, "rollback")
    def _rollback(conn) -> None:
        conn.info.pop("bench_seen", None)


def dump_sql() -> None:
    out = os.environ.get("BENCH_PROFILE_OUT", "/tmp/resetbot-profile.txt") + ".sql"
    with open(out, "w") as f:
        f.write(f"units of work {sum(sql_units.values())}\n")
        for k, v in sql_units.most_common():
            f.write(f"{v:6d} {k}\n")
        f.write(f"\nstatements {sum(sql_statements.values())}\n")
        for k, v in sql_statements.most_common():
            f.write(f"{v:6d} {k}\n")


def _time_functions(spec: str) -> None:
    """BENCH_PROFILE_FUNCS="module:Qual.name,...": each one's own CPU clock, inclusive, counted into the work table."""
    import functools
    import importlib

    for item in filter(None, (part.strip() for part in spec.split(","))):
        module_name, qualname = item.split(":")
        owner = importlib.import_module(module_name)
        *path, attr = qualname.split(".")
        for name in path:
            owner = getattr(owner, name)
        original = getattr(owner, attr)
        if isinstance(original, staticmethod):
            original = original.__func__

        def wrap(original=original, key=f"func {item}"):
            depth = threading.local()

            @functools.wraps(original)
            def timed(*args, **kwargs):
                if getattr(depth, "n", 0):  # recursion or re-entry: the outer call counts it
                    return original(*args, **kwargs)
                depth.n = 1
                started = time.thread_time()
                try:
                    return original(*args, **kwargs)
                finally:
                    depth.n = 0
                    with lock:
                        work_cpu[key] += time.thread_time() - started
                        work_count[key] += 1
            return timed

        setattr(owner, attr, wrap())


def main() -> int:
    cprofile = os.environ.get("BENCH_PROFILE_MODE") == "cprofile"
    threading.Thread(target=watch_threads, name="bench-thread-watch", daemon=True).start()
    if os.environ.get("BENCH_PROFILE_MODE") == "threads":  # CPU per thread only, no sampler
        pass
    elif os.environ.get("BENCH_PROFILE_MODE") == "work":
        _count_work()
    elif cprofile:
        threading.setprofile(_profile_thread)
    else:
        threading.Thread(target=sample, name="bench-sampler", daemon=True).start()
    if os.environ.get("BENCH_PROFILE_SQL"):
        _count_sql()
    if os.environ.get("BENCH_PROFILE_FUNCS"):
        _time_functions(os.environ["BENCH_PROFILE_FUNCS"])
    from bot.cli import main as resetbot

    try:
        return resetbot(["run"])
    finally:
        dump_threads()
        if sql_units:
            dump_sql()
        if work_cpu:
            dump_work()
            if profiles:
                dump_cprofile()
        if cprofile:
            dump_cprofile()
        elif not work_cpu:
            dump()


if __name__ == "__main__":
    raise SystemExit(main())
