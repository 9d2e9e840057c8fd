/*
 * refscope's own ptrace injector (src/inject.c): runs one Python statement
 * in the main thread of a CPython process that never loaded refscope, and
 * leaves the process exactly as it found it.  Plain C, no Python.h: it is
 * linked into the `refscope` command.  See inject.c for how and why.
 */
#ifndef REFSCOPE_INJECT_H
#define REFSCOPE_INJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* How the statement was run. */
typedef struct rs_inject_outcome {
    /* true: it ran in the call, before the injector detached (the main
     * thread was blocked in a system call without the GIL); false: it was
     * queued with Py_AddPendingCall and runs when the main thread reaches
     * its next bytecode boundary. */
    bool ran;
    /* For the user: where the main thread was ("blocked in
     * clock_nanosleep", "running"). */
    char where[64];
    /* The injector attached to the process (on failure: and then put it
     * back and detached). */
    bool attached;
} rs_inject_outcome;

/* Runs the Python statement code (at most a few kilobytes) in the main
 * thread of process pid, which must be a CPython of python_version
 * ("3.11") on this machine's architecture.  Returns 0, or -1 with one
 * sentence in err that says what failed and what the user can do; on
 * failure the process has been restored and left running.
 *
 * For tests: REFSCOPE_INJECT_FAIL_AT=STEP makes that step fail as if its
 * system call had, and REFSCOPE_INJECT_KILL_AT=STEP makes this process
 * SIGKILL itself at that step (steps: see rs_inject_steps). */
int rs_inject_python(pid_t pid, const char *code, const char *python_version, rs_inject_outcome *outcome,
                     char *err, size_t err_len);

/* The names of the injector's steps, in order, NULL-terminated. */
extern const char *const rs_inject_steps[];

#endif
