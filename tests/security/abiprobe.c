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
int main(void) {
    int pid = clone(child, stack + sizeof stack, CLONE_NEWUSER | SIGCHLD, NULL);
    if (pid < 0) printf("clone=%s\n", strerror(errno));
    else { waitpid(pid, NULL, 0); printf("clone=ok\n"); }
    fflush(stdout);
    if (fork() == 0) { report("i386", i386_unshare(0x10000000)); fflush(stdout); _exit(0); }
    wait(NULL);
    fflush(stdout);
    if (fork() == 0) { report("x32", x32_unshare(0x10000000)); fflush(stdout); _exit(0); }
    wait(NULL);
    return 0;
}
