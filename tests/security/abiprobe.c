#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sys/syscall.h>
/* Ask for a new user namespace three ways: clone(2) with CLONE_NEWUSER, unshare(2) through the
   i386 ABI (int $0x80) and through the x32 ABI; print what each returned. */
static char stack[65536];
static int child(void *a) { return 0; }
static long i386_unshare(long flags) {
    long ret;
    __asm__ volatile ("int $0x80" : "=a"(ret) : "a"(310L), "b"(flags) : "memory");
    return ret;
}
static long x32_unshare(long flags) {
    long ret;
    __asm__ volatile ("syscall" : "=a"(ret) : "a"(0x40000000L | 272L), "D"(flags) : "rcx", "r11", "memory");
    return ret;
}
static void report(const char *what, long ret) {
    if (ret < 0 && ret > -4096) printf("%s=%s\n", what, strerror(-ret));
    else printf("%s=ok\n", what);
}
static void try(const char *what, long nr, long a, long b, long c, long d, long e) {
    long ret = syscall(nr, a, b, c, d, e, 0L);
    printf("%s=%s\n", what, ret < 0 ? strerror(errno) : "ok");
}
int main(int argc, char **argv) {
    if (argc > 1) {  /* calls the default profile refuses, each with harmless arguments */
        try("keyctl", SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0, 0, 0);
        try("add_key", SYS_add_key, (long)"user", (long)"probe", (long)"x", 1, -3);
        try("request_key", SYS_request_key, (long)"user", (long)"probe-none", 0, 0, 0);
        try("kexec_load", SYS_kexec_load, 0, 0, 0, 0, 0);
        try("kexec_file_load", SYS_kexec_file_load, -1, -1, 0, 0, 0);
        try("bpf", SYS_bpf, 0, 0, 0, 0, 0);
        try("perf_event_open", SYS_perf_event_open, 0, 0, -1, -1, 0);
        try("init_module", SYS_init_module, 0, 0, 0, 0, 0);
        try("finit_module", SYS_finit_module, -1, 0, 0, 0, 0);
        try("delete_module", SYS_delete_module, (long)"none", 0, 0, 0, 0);
        try("reboot", SYS_reboot, 0, 0, 0, 0, 0);
        try("swapon", SYS_swapon, (long)"/none", 0, 0, 0, 0);
        try("swapoff", SYS_swapoff, (long)"/none", 0, 0, 0, 0);
        try("setns", SYS_setns, -1, 0, 0, 0, 0);
        try("pivot_root", SYS_pivot_root, (long)"/none", (long)"/none", 0, 0, 0);
        try("open_by_handle_at", SYS_open_by_handle_at, -1, 0, 0, 0, 0);
        try("userfaultfd", SYS_userfaultfd, 0, 0, 0, 0, 0);
        try("acct", SYS_acct, 0, 0, 0, 0, 0);
        try("clock_settime", SYS_clock_settime, 99, 0, 0, 0, 0);
        try("settimeofday", SYS_settimeofday, 0, 0, 0, 0, 0);
        try("umount2", SYS_umount2, (long)"/none", 0, 0, 0, 0);
        return 0;
    }
    int pid = clone(child, stack + sizeof stack, CLONE_NEWUSER | SIGCHLD, NULL);
    if (pid < 0) printf("clone=%s\n", strerror(errno));
    else { waitpid(pid, NULL, 0); printf("clone=ok\n"); }
    fflush(stdout);
    if (fork() == 0) { report("i386", i386_unshare(0x10000000)); fflush(stdout); _exit(0); }
    wait(NULL);
    fflush(stdout);
    if (fork() == 0) { report("x32", x32_unshare(0x10000000)); fflush(stdout); _exit(0); }
    int status = 0;
    wait(&status);
    if (WIFSIGNALED(status)) printf("x32=killed by signal %d\n", WTERMSIG(status));
    return 0;
}
