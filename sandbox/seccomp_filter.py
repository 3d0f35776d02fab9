"""The seccomp filter: the system calls model-written code may not make, and how each is refused.

Built once in the zygote with `pyseccomp` (ctypes over Debian's `libseccomp2`) and loaded by each
child just before the code runs. Every refused call returns an error instead of killing the
process, so the model reads an ordinary Python line such as
"PermissionError: [Errno 1] Operation not permitted" and the run goes on:

- no network: `socket` and `socketpair` (every family, AF_UNIX included) and everything done with
  a socket; the child's only channels are pipes it was handed before the filter was loaded;
- no new programs or processes: `execve`, `execveat`, `fork`, `vfork`, and `clone` unless it makes
  a thread (CLONE_THREAD set, no namespace flag); `clone3` answers ENOSYS, so glibc falls back to
  `clone`, whose flags a filter can read;
- no signals to anyone (`kill`, `tkill`, `tgkill`, `rt_*sigqueueinfo`, `pidfd_*`): the parent and
  the app cannot be killed, even by a process running as root;
- no raising of its own limits (`setrlimit`, and `prlimit64` with a new value; reading is fine);
- no tracing or reading other processes, no namespaces, mounts, kernel keys, BPF, perf,
  io_uring (whose requests bypass seccomp), module loading, reboot, clock setting, personality.

A system call of another architecture (32-bit `int 0x80`) kills the process (libseccomp's default
for a foreign architecture), which closes the classic bypass of a 64-bit filter.
"""

from __future__ import annotations

import errno
from typing import Any

# Linux clone flags (linux/sched.h).
CLONE_THREAD = 0x00010000
_CLONE_NAMESPACES = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)

REFUSED: tuple[str, ...] = (
    # network: no socket of any family can be made, nothing can be done with one
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4", "sendto", "sendmsg",
    "sendmmsg", "recvfrom", "recvmsg", "recvmmsg", "getsockopt", "setsockopt", "shutdown",
    # programs and processes
    "execve", "execveat", "fork", "vfork",
    # signals to other processes
    "kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
    "pidfd_open", "pidfd_send_signal", "pidfd_getfd",
    # own limits and identity
    "setrlimit", "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
    "setgroups", "setfsuid", "setfsgid", "capset",
    # other processes' memory, namespaces, mounts
    "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "kcmp",
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "open_by_handle_at", "name_to_handle_at", "mknod", "mknodat",
    # kernel facilities nobody's arithmetic needs
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "personality",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "reboot", "swapon", "swapoff", "acct", "quotactl", "syslog", "iopl", "ioperm",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname",
    "fanotify_init", "lookup_dcookie", "vhangup",
)


def available() -> tuple[bool, str]:
    """Whether `pyseccomp` and its library load here, and why not."""
    try:
        import pyseccomp  # noqa: F401  (its import runs find_library, which starts processes)
    except (ImportError, RuntimeError, OSError) as exc:
        return False, f"pyseccomp unavailable: {exc}"
    return True, "pyseccomp with libseccomp"


def build() -> Any:
    """The filter as a `pyseccomp.SyscallFilter`, not yet loaded. Import happens here, in the zygote."""
    import pyseccomp as sc

    refuse = sc.ERRNO(errno.EPERM)
    flt = sc.SyscallFilter(sc.ALLOW)
    for name in REFUSED:
        try:
            flt.add_rule(refuse, name)
        except OSError:
            continue  # a call this architecture does not have (e.g. no `fork` on arm64)
    # clone: refused unless it makes a thread; any namespace flag refuses it too.
    flt.add_rule(refuse, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))
    for flag in _CLONE_NAMESPACES:
        flt.add_rule(refuse, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    # prlimit64(pid, resource, new, old): reading a limit (new == NULL) stays allowed.
    flt.add_rule(refuse, "prlimit64", sc.Arg(2, sc.NE, 0))
    return flt
