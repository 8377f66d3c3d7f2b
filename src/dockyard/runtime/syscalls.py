"""The system calls a default container may make: dockyard's allow list, grouped by purpose.

Anything not listed fails with EPERM (runc answers ENOSYS for calls newer than the kernel
headers libseccomp knows, so C libraries fall back as on an older kernel). The effect matches
Docker's default profile: ordinary programs (shells, servers, language runtimes, package
managers) run unchanged, while calls that reach kernel state shared with the host (modules,
keyrings, clocks, swap, reboot, accounting, BPF, perf, io_uring) or create namespaces and
mounts stay out unless the container holds the capability that governs them.

Names that an architecture or libseccomp does not know are skipped by runc, so one list
serves x86_64 (with its i386 and x32 ABIs) and aarch64 (with 32-bit ARM) alike.
"""

from __future__ import annotations

# ---- always allowed -------------------------------------------------------------------------

FILE_IO = (
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "preadv2", "pwritev",
    "pwritev2", "lseek", "_llseek", "open", "openat", "openat2", "creat", "close",
    "close_range", "dup", "dup2", "dup3", "fcntl", "fcntl64", "flock", "ioctl", "fsync",
    "fdatasync", "sync", "syncfs", "sync_file_range", "truncate", "truncate64", "ftruncate",
    "ftruncate64", "fallocate", "fadvise64", "fadvise64_64", "readahead", "sendfile",
    "sendfile64", "splice", "tee", "vmsplice", "copy_file_range", "cachestat",
)

FILE_TREE = (
    "stat", "stat64", "lstat", "lstat64", "fstat", "fstat64", "fstatat64", "newfstatat",
    "statx", "statfs", "statfs64", "fstatfs", "fstatfs64", "access", "faccessat", "faccessat2",
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "chown32", "fchown", "fchown32",
    "fchownat", "lchown", "lchown32", "umask", "utime", "utimes", "futimesat", "utimensat",
    "utimensat_time64", "mkdir", "mkdirat", "mknod", "mknodat", "rmdir", "rename", "renameat",
    "renameat2", "link", "linkat", "symlink", "symlinkat", "unlink", "unlinkat", "readlink",
    "readlinkat", "getdents", "getdents64", "chdir", "fchdir", "getcwd", "name_to_handle_at",
    # Reading the mount table the new way (statmount/listmount, Linux 6.8).
    "statmount", "listmount",
)

XATTRS = (
    "getxattr", "lgetxattr", "fgetxattr", "getxattrat", "setxattr", "lsetxattr", "fsetxattr",
    "setxattrat", "listxattr", "llistxattr", "flistxattr", "listxattrat", "removexattr",
    "lremovexattr", "fremovexattr", "removexattrat",
)

WAITING = (  # readiness, notification and event descriptors
    "poll", "ppoll", "ppoll_time64", "select", "_newselect", "pselect6", "pselect6_time64",
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_wait",
    "epoll_wait_old", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "signalfd",
    "signalfd4", "timerfd_create", "timerfd_settime", "timerfd_settime64", "timerfd_gettime",
    "timerfd_gettime64", "inotify_init", "inotify_init1", "inotify_add_watch",
    "inotify_rm_watch", "fanotify_mark",
    "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
    "io_pgetevents_time64",
)

MEMORY = (
    "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync",
    "mlock", "mlock2", "munlock", "mlockall", "munlockall", "remap_file_pages", "membarrier",
    "memfd_create", "memfd_secret", "pkey_alloc", "pkey_free", "pkey_mprotect",
    "map_shadow_stack", "mseal",
)

PROCESSES = (
    "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid", "waitpid",
    "getpid", "getppid", "gettid", "getpgid", "setpgid", "getpgrp", "getsid", "setsid",
    "set_tid_address", "set_robust_list", "get_robust_list", "rseq", "restart_syscall",
    "prctl", "seccomp", "capget", "capset", "uname", "sysinfo", "times", "getrusage",
    "getrlimit", "ugetrlimit", "setrlimit", "prlimit64", "getpriority", "setpriority",
    "ioprio_get", "ioprio_set", "getcpu", "getrandom", "pidfd_open", "pidfd_send_signal",
    "process_mrelease",
    "get_thread_area", "set_thread_area", "landlock_create_ruleset", "landlock_add_rule",
    "landlock_restrict_self", "uretprobe", "riscv_hwprobe",
    "futex", "futex_time64", "futex_waitv", "futex_wake", "futex_wait", "futex_requeue",
    "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getattr", "sched_setattr",
    "sched_getparam", "sched_setparam", "sched_getscheduler", "sched_setscheduler",
    "sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    # Debugging one's own children (Linux 4.8+ checks ptrace against seccomp itself).
    "ptrace", "process_vm_readv", "process_vm_writev",
)

CREDENTIALS = (
    "getuid", "getuid32", "geteuid", "geteuid32", "getgid", "getgid32", "getegid", "getegid32",
    "getresuid", "getresuid32", "getresgid", "getresgid32", "getgroups", "getgroups32",
    "setuid", "setuid32", "setgid", "setgid32", "setreuid", "setreuid32", "setregid",
    "setregid32", "setresuid", "setresuid32", "setresgid", "setresgid32", "setfsuid",
    "setfsuid32", "setfsgid", "setfsgid32", "setgroups", "setgroups32",
)

SIGNALS = (
    "kill", "tkill", "tgkill", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
    "rt_sigpending", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
    "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "sigprocmask", "sigreturn", "pause",
    "alarm",
)

TIME = (  # reading clocks and sleeping; setting them is CAP_SYS_TIME's
    "time", "gettimeofday", "clock_gettime", "clock_gettime64", "clock_getres",
    "clock_getres_time64", "clock_nanosleep", "clock_nanosleep_time64", "nanosleep",
    "getitimer", "setitimer", "timer_create", "timer_delete", "timer_settime",
    "timer_settime64", "timer_gettime", "timer_gettime64", "timer_getoverrun",
    # Read-only without CAP_SYS_TIME: the kernel refuses the setting forms itself.
    "adjtimex", "clock_adjtime", "clock_adjtime64",
)

NETWORK = (  # socket(2) itself has a rule with its arguments below
    "socketpair", "socketcall", "bind", "connect", "listen", "accept", "accept4",
    "getsockname", "getpeername", "getsockopt", "setsockopt", "send", "sendto", "sendmsg",
    "sendmmsg", "recv", "recvfrom", "recvmsg", "recvmmsg", "recvmmsg_time64", "shutdown",
)

IPC = (  # System V and POSIX IPC live in the container's IPC namespace
    "pipe", "pipe2", "ipc", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop",
    "semtimedop", "semtimedop_time64", "semctl", "shmget", "shmat", "shmdt", "shmctl",
    "mq_open", "mq_unlink", "mq_timedsend", "mq_timedsend_time64", "mq_timedreceive",
    "mq_timedreceive_time64", "mq_notify", "mq_getsetattr",
)

ALWAYS = FILE_IO + FILE_TREE + XATTRS + WAITING + MEMORY + PROCESSES + CREDENTIALS + SIGNALS \
    + TIME + NETWORK + IPC

# ---- per architecture (by ``platform.machine()``) -----------------------------------------

BY_MACHINE: dict[str, tuple[str, ...]] = {
    "x86_64": ("arch_prctl", "modify_ldt"),
    "i686": ("modify_ldt",),
    "aarch64": ("arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint",
                "cacheflush", "set_tls"),
    "armv7l": ("arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint",
               "cacheflush", "set_tls"),
    "ppc64le": ("sync_file_range2", "swapcontext"),
    "s390x": ("s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"),
    "riscv64": ("riscv_flush_icache",),
}

# ---- allowed with a capability ------------------------------------------------------------

BY_CAPABILITY: dict[str, tuple[str, ...]] = {
    "CAP_SYS_ADMIN": (
        "mount", "umount", "umount2", "mount_setattr", "move_mount", "open_tree", "fsopen",
        "fsconfig", "fsmount", "fspick", "unshare", "setns", "clone", "clone3", "sethostname",
        "setdomainname", "quotactl", "quotactl_fd", "fanotify_init", "lookup_dcookie", "bpf",
        "perf_event_open", "syslog", "lsm_get_self_attr", "lsm_set_self_attr",
        "lsm_list_modules",
    ),
    "CAP_SYS_PTRACE": ("kcmp", "pidfd_getfd", "process_madvise", "ptrace", "process_vm_readv",
                       "process_vm_writev"),
    "CAP_SYS_CHROOT": ("chroot",),
    "CAP_SYS_BOOT": ("reboot",),
    "CAP_SYS_MODULE": ("init_module", "finit_module", "delete_module"),
    "CAP_SYS_TIME": ("clock_settime", "clock_settime64", "settimeofday", "stime"),
    "CAP_SYS_PACCT": ("acct",),
    "CAP_SYS_RAWIO": ("iopl", "ioperm"),
    "CAP_SYS_NICE": ("mbind", "set_mempolicy", "get_mempolicy", "set_mempolicy_home_node"),
    "CAP_SYS_TTY_CONFIG": ("vhangup",),
    "CAP_SYSLOG": ("syslog",),
    "CAP_DAC_READ_SEARCH": ("open_by_handle_at",),
    "CAP_BPF": ("bpf",),
    "CAP_PERFMON": ("perf_event_open",),
}

# ---- allowed with these arguments only ----------------------------------------------------

# socket(2): every address family but AF_ALG (38, the kernel's crypto API) and AF_VSOCK (40,
# host/guest sockets), which reach past the container's network namespace.
AF_ALG, AF_VSOCK = 38, 40

# personality(2): Linux, 32-bit Linux and UNAME26 (with either), and the query form.
PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)

# clone(2) namespace flags: CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET.
CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 \
    | 0x20000000 | 0x40000000
