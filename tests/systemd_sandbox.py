"""Runs a command under the system-call rules of a systemd unit, without systemd (tests/test_deploy.py).

    python tests/systemd_sandbox.py RULES.json COMMAND [ARG...]

RULES.json holds what the unit's `SystemCallFilter=`, `SystemCallErrorNumber=`,
`RestrictAddressFamilies=` and `MemoryDenyWriteExecute=` come to, as systemd 252 builds them:
`allow`, the system calls left once the filter's groups are expanded (`systemd-analyze
syscall-filter`); `errno`, what any other call returns; `families`, the socket address families
allowed; `deny_write_execute`, whether memory may never be writable and executable. Two seccomp
filters are loaded through libseccomp (ctypes; Debian's libseccomp2, which systemd itself uses),
then COMMAND is executed: a call either filter refuses fails as it would in the unit.

The second filter copies systemd's own rules (src/shared/seccomp-util.c): `mmap` with both
PROT_WRITE and PROT_EXEC, `mprotect` and `pkey_mprotect` adding PROT_EXEC, `shmat` with
SHM_EXEC get EPERM; `socket` for a family not allowed gets EAFNOSUPPORT.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import os
import sys

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_MASKED_EQ = 4, 5, 7
PROT_WRITE, PROT_EXEC, SHM_EXEC = 0x2, 0x4, 0o100000
AF_MAX = 46  # Linux 6.x; families from it up are refused as a range


def scmp_act_errno(number: int) -> int:
    return 0x00050000 | (number & 0xFFFF)


class ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


def _library() -> ctypes.CDLL:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    lib = ctypes.CDLL(name, use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(ArgCmp)]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    return lib


def _rule(lib: ctypes.CDLL, ctx: int, action: int, name: str, *comparisons: tuple[int, int, int, int]) -> None:
    number = lib.seccomp_syscall_resolve_name(name.encode())
    if number < 0:  # not a call of this architecture (e.g. mmap2, socketcall on x86-64)
        return
    array = (ArgCmp * max(1, len(comparisons)))(*(ArgCmp(*c) for c in comparisons))
    result = lib.seccomp_rule_add_array(ctx, action, number, len(comparisons), array)
    if result != 0:
        raise OSError(-result, f"seccomp_rule_add {name}: {os.strerror(-result)}")


def load(rules: dict) -> None:
    lib = _library()
    allow = lib.seccomp_init(scmp_act_errno(rules["errno"]))
    for name in rules["allow"]:
        _rule(lib, allow, SCMP_ACT_ALLOW, name)

    limits = lib.seccomp_init(SCMP_ACT_ALLOW)
    if rules["deny_write_execute"]:
        refuse = scmp_act_errno(errno.EPERM)
        for name in ("mmap", "mmap2"):
            _rule(lib, limits, refuse, name, (2, SCMP_CMP_MASKED_EQ, PROT_WRITE | PROT_EXEC, PROT_WRITE | PROT_EXEC))
        for name in ("mprotect", "pkey_mprotect"):
            _rule(lib, limits, refuse, name, (2, SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC))
        _rule(lib, limits, refuse, "shmat", (2, SCMP_CMP_MASKED_EQ, SHM_EXEC, SHM_EXEC))
    if rules.get("families") is not None:
        refuse = scmp_act_errno(errno.EAFNOSUPPORT)
        allowed = set(rules["families"])
        for family in range(AF_MAX):
            if family not in allowed:
                _rule(lib, limits, refuse, "socket", (0, SCMP_CMP_EQ, family, 0))
        _rule(lib, limits, refuse, "socket", (0, SCMP_CMP_GE, AF_MAX, 0))

    for ctx in (limits, allow):  # seccomp_load sets no_new_privs first, as NoNewPrivileges=yes does
        result = lib.seccomp_load(ctx)
        if result != 0:
            raise OSError(-result, f"seccomp_load: {os.strerror(-result)}")


def main(argv: list[str]) -> None:
    with open(argv[1]) as handle:
        rules = json.load(handle)
    load(rules)
    os.execv(argv[2], argv[2:])


if __name__ == "__main__":
    main(sys.argv)
