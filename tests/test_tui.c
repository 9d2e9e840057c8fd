/*
 * End-to-end tests of the browser: a real leaky program (tests/e2e/
 * leaky_app.py) runs in a shell in a tmux pseudo-terminal, keys go in with
 * `send-keys`, and the screen comes back with `capture-pane -p`.  Each test
 * has its own tmux server (a private socket) and its own $HOME, polls the
 * screen with a timeout instead of sleeping, and kills its server at the
 * end; a watchdog inside the server kills it when the test process is
 * gone (a failed check or a timeout ends it without exit handlers).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <check.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pytest_helpers.h"
#include "suites.h"

#define WAIT_SECONDS 20.0

typedef struct tui {
    char socket[96];
    char home[128];
    char screen[32768];
} tui;

static tui *current; /* for the exit handler */

/* Runs a shell command; returns its exit status. */
static int sh(const char *format, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, format);
    vsnprintf(cmd, sizeof cmd, format, ap);
    va_end(ap);
    int r = system(cmd);
    return r == -1 ? -1 : WEXITSTATUS(r);
}

static void tui_cleanup(void)
{
    if (current == NULL)
        return;
    sh("tmux -L %s kill-server >/dev/null 2>&1", current->socket);
    sh("rm -rf '%s'", current->home);
    current = NULL;
}

/* Reads the pane into t->screen. */
static void tui_capture(tui *t)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "tmux -L %s capture-pane -p 2>/dev/null", t->socket);
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(t->screen, 1, sizeof t->screen - 1, p) : 0;
    t->screen[n] = '\0';
    if (p)
        pclose(p);
}

/* Polls the screen until text shows (true) or the timeout passes (false). */
static bool tui_wait(tui *t, const char *text)
{
    struct timespec start, now, pause = {0, 50 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        tui_capture(t);
        if (strstr(t->screen, text) != NULL)
            return true;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9 > WAIT_SECONDS)
            return false;
        nanosleep(&pause, NULL);
    }
}

#define ck_assert_screen(t, text)                                                                              \
    ck_assert_msg(tui_wait((t), (text)), "waited %.0f s for \"%s\"; the screen is:\n%s", WAIT_SECONDS, (text), \
                  (t)->screen)

/* Sends tmux key names ("Enter", "q", "C-c"), each a separate argument. */
static void tui_keys(tui *t, const char *keys)
{
    ck_assert_int_eq(sh("tmux -L %s send-keys %s", t->socket, keys), 0);
}

/* Types text literally (no key names). */
static void tui_type(tui *t, const char *text)
{
    char quoted[1024];
    size_t q = 0;
    quoted[q++] = '\'';
    for (const char *p = text; *p && q < sizeof quoted - 6; p++) {
        if (*p == '\'') {
            memcpy(quoted + q, "'\\''", 4);
            q += 4;
        } else {
            quoted[q++] = *p;
        }
    }
    quoted[q++] = '\'';
    quoted[q] = '\0';
    ck_assert_int_eq(sh("tmux -L %s send-keys -l %s", t->socket, quoted), 0);
}

/* Runs a `:` command and waits for the command line to close. */
static void tui_command(tui *t, const char *command)
{
    tui_type(t, ":");
    tui_type(t, command);
    tui_keys(t, "Enter");
}

/* " LD_PRELOAD=<the ASan runtime> ..." when this build is sanitized (the
 * program under test loads the sanitized module), else "". */
static const char *sanitizer_env(void)
{
    static char env[512];
#if defined(__SANITIZE_ADDRESS__)
    Dl_info info;
    void *symbol = dlsym(RTLD_DEFAULT, "__asan_init");
    if (symbol != NULL && dladdr(symbol, &info) != 0)
        snprintf(env, sizeof env, " LD_PRELOAD=%s ASAN_OPTIONS=detect_leaks=0 PYTHONMALLOC=malloc", info.dli_fname);
#endif
    return env;
}

/* Starts a shell in a cols x rows pane, runs the leaky program in it
 * (with redirect appended to its command line) and waits for the
 * browser's summary screen. */
static void tui_start_full(tui *t, int cols, int rows, const char *env, const char *redirect)
{
    memset(t, 0, sizeof *t);
    snprintf(t->socket, sizeof t->socket, "refscope-test-%ld", (long)getpid());
    snprintf(t->home, sizeof t->home, "/tmp/refscope-tui-%ld", (long)getpid());
    current = t;
    atexit(tui_cleanup);
    sh("rm -rf '%s'; mkdir -p '%s'", t->home, t->home);
    /* A clean environment: our own HOME (for the : history) and a plain
     * prompt, the module from the build tree, UTF-8 for the flags. */
    int r = sh("tmux -L %s -f /dev/null new-session -d -x %d -y %d "
               "\"env -i PATH=\\\"$PATH\\\" HOME=%s TERM=screen %s PYTHONPATH=%s "
               "PYTHONDONTWRITEBYTECODE=1 LEAKY_PID_FILE=%s/leaky.pid%s PS1='rs$ ' sh\"",
               t->socket, cols, rows, t->home, env, RS_BUILD_LIB, t->home, sanitizer_env());
    ck_assert_int_eq(r, 0);
    /* A failed check or a timeout ends this process without running exit
     * handlers: the server then removes itself once we are gone. */
    ck_assert_int_eq(sh("tmux -L %s run-shell -b 'while kill -0 %ld 2>/dev/null; do sleep 1; done; "
                        "rm -rf %s; tmux -L %s kill-server'",
                        t->socket, (long)getpid(), t->home, t->socket),
                     0);
    ck_assert_screen(t, "rs$");
    char cmd[1024];
    /* "EXIT""=" on the typed line, so that only the program's exit, not
     * the echo of this command line, puts "EXIT=" on the screen. */
    snprintf(cmd, sizeof cmd, "%s %s/tests/e2e/leaky_app.py%s; echo \"EXIT\"\"=$?\"", RS_PYTHON_EXE,
             RS_SOURCE_DIR, redirect);
    tui_type(t, cmd);
    tui_keys(t, "Enter");
    ck_assert_screen(t, "Top suspects");
}

static void tui_start_redirected(tui *t, int cols, int rows, const char *redirect)
{
    tui_start_full(t, cols, rows, "LANG=C.UTF-8", redirect);
}

static void tui_start(tui *t, int cols, int rows)
{
    tui_start_redirected(t, cols, rows, "");
}

static void tui_stop(tui *t)
{
    (void)t;
    tui_cleanup();
}

/* Check whether the summary names the module-level cache as the top
 * suspect, with its why-alive expression. */
START_TEST(test_tui_summary_shows_top_suspect)
{
    tui t;
    tui_start(&t, 100, 30);
    ck_assert_screen(&t, "sys.modules['__main__'].SESSIONS");
    /* It is the first suspect: the row right under the heading. */
    const char *heading = strstr(t.screen, "Top suspects");
    const char *row = heading ? strchr(heading, '\n') : NULL;
    ck_assert_ptr_nonnull(row);
    const char *end = strchr(row + 1, '\n');
    ck_assert_ptr_nonnull(end);
    ck_assert_msg(memmem(row, (size_t)(end - row), "SESSIONS", 8) != NULL, "first suspect row: %.*s",
                  (int)(end - row), row);
    tui_stop(&t);
}
END_TEST

/* Check whether 2 lists the types and / filters them. */
START_TEST(test_tui_types_and_filter)
{
    tui t;
    tui_start(&t, 100, 30);
    tui_keys(&t, "2");
    ck_assert_screen(&t, "refscope | types");
    ck_assert_screen(&t, "bytearray");
    tui_keys(&t, "s");
    ck_assert_screen(&t, "sorted by size (biggest first)");
    tui_keys(&t, "s");
    ck_assert_screen(&t, "sorted by count (biggest first)");
    tui_type(&t, "/");
    tui_type(&t, "main__.Sess");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "filter 'main__.Sess'");
    ck_assert_screen(&t, " 300 ");
    ck_assert_screen(&t, "  __main__.Session");
    ck_assert_msg(strstr(t.screen, "bytearray") == NULL, "the filter left other types:\n%s", t.screen);
    tui_stop(&t);
}
END_TEST

/* Check whether :type opens the instances, Enter an instance with its
 * referrer and edge label, and p the why-alive expression. */
START_TEST(test_tui_instances_referrers_and_path)
{
    tui t;
    tui_start(&t, 100, 30);
    tui_command(&t, "type Session");
    ck_assert_screen(&t, "300 objects of type __main__.Session");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "held by: 1 referrer");
    ck_assert_screen(&t, "['session-");
    ck_assert_screen(&t, ".payload");
    tui_keys(&t, "r");
    ck_assert_screen(&t, "freeing this __main__.Session would free 2 objects");
    ck_assert_screen(&t, "bytearray");
    tui_keys(&t, "BSpace");
    ck_assert_screen(&t, "held by: 1 referrer");
    tui_keys(&t, "p");
    ck_assert_screen(&t, "alive via: sys.modules['__main__'].SESSIONS['session-");
    /* Backspace goes back through the history. */
    tui_keys(&t, "BSpace");
    ck_assert_screen(&t, "held by: 1 referrer");
    tui_keys(&t, "h");
    ck_assert_screen(&t, "300 objects of type __main__.Session");
    tui_stop(&t);
}
END_TEST

/* Check whether the cycle explorer of a parent<->child tree names .parent
 * as the edge to break and suggests a weak reference. */
START_TEST(test_tui_cycle_explorer_names_edge_to_break)
{
    tui t;
    tui_start(&t, 100, 30);
    tui_command(&t, "type TreeNode");
    ck_assert_screen(&t, "objects of type __main__.TreeNode");
    tui_keys(&t, "c");
    ck_assert_screen(&t, "refscope | cycle explorer");
    ck_assert_screen(&t, "edge to break: .parent (__main__.TreeNode -> __main__.TreeNode)");
    ck_assert_screen(&t, "weakref");
    /* Walk one edge inside the cycle, then back. */
    ck_assert_screen(&t, "walk: at __main__.TreeNode");
    tui_keys(&t, "G Enter");
    ck_assert_screen(&t, "walk: at ");
    tui_stop(&t);
}
END_TEST

/* Check whether the garbage screen shows the __del__ object in a cycle. */
START_TEST(test_tui_garbage_shows_finalizer_cycle)
{
    tui t;
    tui_start(&t, 100, 30);
    tui_keys(&t, "4");
    ck_assert_screen(&t, "refscope | garbage");
    /* The stdlib may leave cyclic garbage of its own (3.12 does): look for ours. */
    tui_type(&t, "/Resource");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "__main__.Resource");
    ck_assert_screen(&t, "finalizer");
    ck_assert_screen(&t, "PEP 442");
    tui_stop(&t);
}
END_TEST

/* Check whether the closures screen names the captured variable. */
START_TEST(test_tui_closures_show_variable_name)
{
    tui t;
    tui_start(&t, 100, 30);
    tui_keys(&t, "5");
    ck_assert_screen(&t, "refscope | closures");
    tui_type(&t, "/captured");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "'captured_secret' in make_handler.<locals>.handler()");
    tui_stop(&t);
}
END_TEST

/* Check whether the threads screen shows another thread's local and a
 * suspended generator's. */
START_TEST(test_tui_threads_show_other_thread_local)
{
    tui t;
    tui_start(&t, 100, 30);
    tui_keys(&t, "6");
    ck_assert_screen(&t, "refscope | threads and frames");
    tui_type(&t, "/worker");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "thread 'leaky-worker'");
    ck_assert_screen(&t, "frame worker() leaky_app.py");
    ck_assert_screen(&t, "worker_local_config");
    ck_assert_screen(&t, "stale-config");
    /* A suspended generator's locals are listed too. */
    tui_type(&t, "/"); /* the line starts with the filter in use: Ctrl-U clears it */
    tui_keys(&t, "C-u");
    tui_type(&t, "stream");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "generator stream() leaky_app.py");
    tui_type(&t, "/");
    tui_keys(&t, "C-u");
    tui_type(&t, "generator_buffer");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "    generator_buffer");
    tui_stop(&t);
}
END_TEST

/* Check whether ? lists every key of the key table with its help, taken
 * from the table itself through refscope._key_table(). */
START_TEST(test_tui_help_lists_every_key)
{
    tui t;
    tui_start(&t, 100, 64);
    tui_keys(&t, "?");
    ck_assert_screen(&t, "refscope | help");
    ck_assert_screen(&t, "flags on object rows");
    long n = rs_py_long("len(refscope._refscope._key_table())");
    ck_assert_int_gt(n, 20);
    for (long i = 0; i < n; i++) {
        char expr[128], line[512], name[64];
        snprintf(expr, sizeof expr, "refscope._refscope._key_table()[%ld][0]", i);
        snprintf(name, sizeof name, "%s", rs_py_str(expr));
        snprintf(expr, sizeof expr, "refscope._refscope._key_table()[%ld][1]", i);
        snprintf(line, sizeof line, "  %-10s %s", name, rs_py_str(expr));
        ck_assert_msg(strstr(t.screen, line) != NULL, "help lacks \"%s\":\n%s", line, t.screen);
    }
    /* Commands are listed too. */
    ck_assert_screen(&t, ":eval EXPR");
    tui_stop(&t);
}
END_TEST

/* Check whether bad commands give one error line each and the browser
 * keeps working; :eval of an expression opens its result. */
START_TEST(test_tui_bad_commands_keep_browser_working)
{
    static const char *const cases[][2] = {
        {"bogus", "unknown command ':bogus'; :help lists the commands"},
        {"addr zz", "'zz' is not an address"},
        {"addr 0x10", "no object at 0x10 in this snapshot"},
        {"type NoSuchType", "no objects of type 'NoSuchType'"},
        {"eval 1/0", "eval: ZeroDivisionError: division by zero"},
        {"eval raise SystemExit(3)", "eval: SystemExit caught; the program keeps running"},
        {"eval undefined_name", "eval: NameError: name 'undefined_name' is not defined"},
        {"save /nonexistent-dir/x.json", "save: FileNotFoundError"},
        {"type 'unclosed", "unmatched quote"},
    };
    tui t;
    tui_start(&t, 100, 30);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tui_command(&t, cases[i][0]);
        ck_assert_screen(&t, cases[i][1]);
        ck_assert_screen(&t, "refscope | summary");
    }
    tui_command(&t, "eval SESSIONS");
    ck_assert_screen(&t, "refscope | object");
    ck_assert_screen(&t, "['session-0']");
    tui_keys(&t, "2");
    ck_assert_screen(&t, "refscope | types");
    tui_stop(&t);
}
END_TEST

/* Check whether :dump FILE writes a heap dump of the browsed process that
 * refscope.load() reads back, with the program's cache and its path. */
START_TEST(test_tui_dump_command)
{
    tui t;
    tui_start(&t, 100, 30);
    char command[512];
    snprintf(command, sizeof command, "dump %s/heap.rsd", t.home);
    tui_command(&t, command);
    ck_assert_screen(&t, "dumped");
    char code[1024];
    snprintf(code, sizeof code,
             "import refscope\n"
             "d = refscope.load('%s/heap.rsd')\n"
             "sessions = d.instances('__main__.Session')\n"
             "p = str(d.path(sessions[0]))\n",
             t.home);
    rs_py_run(code);
    ck_assert_int_ge(rs_py_long("len(sessions)"), 10);
    ck_assert_str_eq(rs_py_str("p.startswith(\"sys.modules['__main__'].SESSIONS['session-\")"), "True");
    tui_stop(&t);
}
END_TEST

/* Check whether a 30x8 terminal shows "too small" and the browser comes
 * back when the terminal grows. */
START_TEST(test_tui_too_small_then_resized)
{
    tui t;
    tui_start(&t, 100, 30);
    ck_assert_int_eq(sh("tmux -L %s resize-window -x 30 -y 8", t.socket), 0);
    ck_assert_screen(&t, "terminal too small");
    ck_assert_int_eq(sh("tmux -L %s resize-window -x 100 -y 30", t.socket), 0);
    ck_assert_screen(&t, "Top suspects");
    tui_keys(&t, "2");
    ck_assert_screen(&t, "refscope | types");
    tui_stop(&t);
}
END_TEST

/* Check whether a second browser in the same process still follows
 * resizes (ncurses reports them only to the first one). */
START_TEST(test_tui_second_browser_follows_resize)
{
    tui t;
    tui_start_full(&t, 100, 30, "LANG=C.UTF-8 LEAKY_BROWSE_TWICE=1", "");
    tui_keys(&t, "q");
    ck_assert_screen(&t, "second browse in a moment");
    ck_assert_screen(&t, "Top suspects");
    ck_assert_int_eq(sh("tmux -L %s resize-window -x 30 -y 8", t.socket), 0);
    ck_assert_screen(&t, "terminal too small");
    ck_assert_int_eq(sh("tmux -L %s resize-window -x 100 -y 30", t.socket), 0);
    ck_assert_screen(&t, "Top suspects");
    tui_keys(&t, "q");
    ck_assert_screen(&t, "EXIT=0");
    tui_stop(&t);
}
END_TEST

/* Check whether a repr holding escape sequences is shown escaped and
 * leaves the screen intact. */
START_TEST(test_tui_repr_escapes_are_shown_escaped)
{
    tui t;
    tui_start(&t, 100, 30);
    tui_command(&t, "type Evil");
    ck_assert_screen(&t, "EVIL\\x1b[2J\\x1b[31mRED\\x07");
    ck_assert_screen(&t, "refscope | instances");
    tui_stop(&t);
}
END_TEST

/* Check whether after q the program goes on and the shell works again
 * (the terminal is back in its normal mode). */
START_TEST(test_tui_quit_restores_terminal)
{
    tui t;
    tui_start(&t, 100, 30);
    tui_keys(&t, "q");
    ck_assert_screen(&t, "after browse: the program continues");
    ck_assert_screen(&t, "leaky_app done");
    ck_assert_screen(&t, "EXIT=0");
    tui_type(&t, "echo ok$((40+2))");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "ok42");
    tui_stop(&t);
}
END_TEST

/* Check whether the program's other threads run while the browser waits
 * for keys (the GIL is released). */
START_TEST(test_tui_other_threads_run_while_browsing)
{
    tui t;
    tui_start(&t, 100, 30);
    tui_command(&t, "eval globals().__setitem__('N0', len(TICKS))");
    ck_assert_screen(&t, "done (None)");
    bool grew = false;
    for (int i = 0; i < 40 && !grew; i++) {
        struct timespec pause = {0, 100 * 1000 * 1000};
        nanosleep(&pause, NULL);
        tui_command(&t, "eval 'ticks grew' if len(TICKS) > N0 + 5 else 'ticks stuck'");
        ck_assert_screen(&t, "= 'ticks ");
        grew = strstr(t.screen, "= 'ticks grew'") != NULL;
    }
    ck_assert_msg(grew, "the ticker thread did not run while the browser waited:\n%s", t.screen);
    tui_stop(&t);
}
END_TEST

/* Check whether Ctrl-C leaves the browser and the program goes on. */
START_TEST(test_tui_ctrl_c_leaves)
{
    tui t;
    tui_start(&t, 100, 30);
    tui_keys(&t, "2");
    ck_assert_screen(&t, "refscope | types");
    tui_keys(&t, "C-c");
    ck_assert_screen(&t, "after browse: the program continues");
    ck_assert_screen(&t, "EXIT=0");
    tui_stop(&t);
}
END_TEST

/* Check whether SIGINT from outside ends the browser with
 * KeyboardInterrupt and the terminal is restored. */
START_TEST(test_tui_sigint_restores_terminal)
{
    tui t;
    tui_start(&t, 100, 30);
    char pid_file[256];
    snprintf(pid_file, sizeof pid_file, "%s/leaky.pid", t.home);
    FILE *f = fopen(pid_file, "r");
    long pid = 0;
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%ld", &pid), 1);
    fclose(f);
    ck_assert_int_eq(sh("kill -INT %ld", pid), 0);
    ck_assert_screen(&t, "KeyboardInterrupt");
    /* The program dies of SIGINT, so the shell drops the rest of the line
     * (no EXIT=); the shell evaluating a new line shows it is back. */
    tui_type(&t, "echo ok$((40+2))");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "ok42");
    tui_stop(&t);
}
END_TEST

/* Check whether : recalls earlier commands with Up and keeps them in
 * $HOME/.local/state/refscope/history after the browser closes. */
START_TEST(test_tui_command_history_persists)
{
    tui t;
    tui_start(&t, 100, 30);
    tui_command(&t, "eval 6*7");
    ck_assert_screen(&t, "= 42");
    tui_command(&t, "eval 1+1");
    ck_assert_screen(&t, "= 2");
    tui_type(&t, ":");
    tui_keys(&t, "Up Up Enter");
    ck_assert_screen(&t, "= 42");
    tui_keys(&t, "q");
    ck_assert_screen(&t, "EXIT=0");
    /* libedit's file format escapes spaces ("eval\\0406*7"). */
    ck_assert_int_eq(sh("grep -q '^eval.*6\\*7$' '%s/.local/state/refscope/history'", t.home), 0);
    tui_stop(&t);
}
END_TEST

/* Check whether browse() without a terminal raises refscope.Error that
 * points to refscope.report(), and never touches stdin/stdout. */
START_TEST(test_tui_no_terminal_raises_error)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd /tmp && env PYTHONPATH=%s%s setsid %s -c \""
             "import refscope\n"
             "for tty in (None, '/dev/null'):\n"
             "    try:\n"
             "        refscope.browse(tty=tty)\n"
             "    except refscope.Error as e:\n"
             "        print('ERROR:', e)\n"
             "\" </dev/null 2>&1",
             RS_BUILD_LIB, sanitizer_env(), RS_PYTHON_EXE);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char out[4096];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    pclose(p);
    ck_assert_msg(strstr(out, "ERROR: no terminal: this process has no controlling terminal; use refscope.report()"),
                  "%s", out);
    ck_assert_msg(strstr(out, "ERROR: no terminal: the given file descriptor is not a terminal"), "%s", out);
}
END_TEST

/* Check whether :mark and :growth show what the program allocated in
 * between (the ticker thread's ints) and 7 reopens that screen. */
START_TEST(test_tui_mark_and_growth)
{
    tui t;
    tui_start(&t, 100, 30);
    tui_keys(&t, "7");
    ck_assert_screen(&t, "no mark yet");
    tui_command(&t, "mark");
    ck_assert_screen(&t, "marked ");
    struct timespec pause = {0, 500 * 1000 * 1000};
    nanosleep(&pause, NULL);
    tui_command(&t, "growth");
    ck_assert_screen(&t, "types changed since the mark");
    ck_assert_screen(&t, "  list"); /* TICKS grew */
    tui_keys(&t, "1");
    ck_assert_screen(&t, "Top suspects");
    ck_assert_screen(&t, "Growth since the mark");
    tui_keys(&t, "7");
    ck_assert_screen(&t, "types changed since the mark");
    tui_stop(&t);
}
END_TEST

/* Check whether :mark marks the heap now, not the snapshot the browser
 * opened with: of 50 Probes made before :mark and 70 after, :growth
 * reports exactly the 70. */
START_TEST(test_tui_mark_marks_the_heap_now)
{
    tui t;
    tui_start(&t, 100, 30);
    tui_command(&t, "eval PROBES.extend(Probe() for _ in range(50))");
    tui_command(&t, "mark");
    ck_assert_screen(&t, "marked ");
    tui_command(&t, "eval PROBES.extend(Probe() for _ in range(70))");
    tui_command(&t, "growth");
    ck_assert_screen(&t, "types changed since the mark");
    ck_assert_screen(&t, "+70       70  __main__.Probe");
    tui_stop(&t);
}
END_TEST

/* Check whether browse(obj) shows obj held by its dict alone: not by the
 * call's argument tuple, nor by C as an unexplained reference. */
START_TEST(test_tui_browse_object_shows_no_refscope_holder)
{
    tui t;
    tui_start_full(&t, 120, 30, "LANG=C.UTF-8 LEAKY_BROWSE_OBJECT=1", "");
    tui_keys(&t, "q");
    ck_assert_screen(&t, "held by: 1 referrer");
    ck_assert_screen(&t, "['session-7']");
    ck_assert_msg(strstr(t.screen, "tuple") == NULL && strstr(t.screen, "held by C") == NULL,
                  "refscope's call shows as a holder:\n%s", t.screen);
    tui_stop(&t);
}
END_TEST

/* Check whether the browser draws on the terminal while the program's
 * stdout and stderr go to a file. */
START_TEST(test_tui_works_with_output_redirected)
{
    tui t;
    char redirect[300], out[256];
    snprintf(out, sizeof out, "/tmp/refscope-tui-%ld/out.txt", (long)getpid());
    snprintf(redirect, sizeof redirect, " >%s 2>&1", out);
    tui_start_redirected(&t, 100, 30, redirect);
    ck_assert_screen(&t, "sys.modules['__main__'].SESSIONS");
    tui_keys(&t, "q");
    ck_assert_screen(&t, "EXIT=0");
    ck_assert_int_eq(sh("grep -q 'after browse: the program continues' %s", out), 0);
    tui_stop(&t);
}
END_TEST

/* Sends an xterm (X10) mouse report: button code (0 left, 65 wheel down),
 * 0-based column and row. */
static void tui_mouse(tui *t, int button, int col, int row)
{
    ck_assert_int_eq(sh("tmux -L %s send-keys -H 1b 5b 4d %02x %02x %02x", t->socket, 32 + button, 33 + col, 33 + row),
                     0);
    if (button == 0) /* a press is followed by its release, as terminals do */
        ck_assert_int_eq(sh("tmux -L %s send-keys -H 1b 5b 4d %02x %02x %02x", t->socket, 32 + 3, 33 + col, 33 + row),
                         0);
}

/* Check whether the wheel scrolls, a click selects a row and a click on
 * the selected row follows it. */
START_TEST(test_tui_mouse_wheel_and_click)
{
    tui t;
    tui_start(&t, 100, 30);
    tui_command(&t, "type Session");
    ck_assert_screen(&t, "1/300");
    tui_mouse(&t, 65, 10, 10); /* wheel down: the window moves 3 rows */
    ck_assert_screen(&t, "4/300");
    tui_mouse(&t, 0, 5, 10); /* list rows start at screen row 3 */
    ck_assert_screen(&t, "11/300");
    tui_mouse(&t, 0, 5, 10);
    ck_assert_screen(&t, "held by: 1 referrer");
    tui_stop(&t);
}
END_TEST

/* Check whether, without UTF-8 and colours, the flags are letters that
 * stay readable (C cycle, F finalizer). */
START_TEST(test_tui_monochrome_ascii_flags)
{
    tui t;
    tui_start_full(&t, 100, 30, "LC_ALL=C PYTHONCOERCECLOCALE=0 PYTHONUTF8=0 NO_COLOR=1", "");
    tui_keys(&t, "4");
    ck_assert_screen(&t, "refscope | garbage");
    tui_type(&t, "/Resource");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "CF   __main__.Resource");
    tui_stop(&t);
}
END_TEST

/* Check whether the benchmark hook times one entry per key through the
 * real drawing path, on an instances screen and an object screen, and
 * leaves every reference count as it was. */
START_TEST(test_tui_bench_hook_times_keys)
{
    rs_py_run("import sys, refscope\n"
              "class BenchItem: pass\n"
              "bench_items = [BenchItem() for _ in range(5000)]\n"
              "bench_dict = {i: str(i) for i in range(5000)}\n"
              "before = (sys.getrefcount(bench_items[10]), sys.getrefcount(bench_dict))\n"
              "times_instances = refscope._bench_keypress('BenchItem', 300)\n"
              "times_object = refscope._bench_keypress(bench_dict, 300)\n"
              "after = (sys.getrefcount(bench_items[10]), sys.getrefcount(bench_dict))\n");
    ck_assert_int_eq(rs_py_long("len(times_instances)"), 300);
    ck_assert_int_eq(rs_py_long("len(times_object)"), 300);
    ck_assert_int_eq(rs_py_long("all(0 < t < 1 for t in times_instances + times_object)"), 1);
    ck_assert_str_eq(rs_py_str("before == after"), "True");
    /* Bad targets are refscope.Error, not a crash. */
    rs_py_run("try:\n"
              "    refscope._bench_keypress('NoSuchType', 1)\n"
              "    bench_error = None\n"
              "except refscope.Error as e:\n"
              "    bench_error = str(e)\n");
    ck_assert_str_eq(rs_py_str("bench_error"), "no objects of type 'NoSuchType' in the snapshot");
}
END_TEST

/* Asserts that the browser answers a key (2: the types screen), leaves it
 * (q twice) and sees the program run to its end. */
static void tui_answers_then_quit(tui *t)
{
    tui_keys(t, "2");
    ck_assert_screen(t, "refscope | types");
    tui_keys(t, "q q");
    ck_assert_screen(t, "leaky_app done");
    tui_stop(t);
}

/* Check whether Ctrl-C during a :eval that never ends raises
 * KeyboardInterrupt in the evaluated code, shown on the status line, and
 * the browser goes on answering keys. */
START_TEST(test_tui_ctrl_c_interrupts_eval)
{
    tui t;
    char started[256], command[512];
    tui_start(&t, 100, 30);
    snprintf(started, sizeof started, "%s/eval-started", t.home);
    /* A loop of Python bytecode that never ends (exec() is left out: an
     * exec(str) interrupted by KeyboardInterrupt makes CPython kill itself
     * with SIGINT at exit, whoever caught the exception). */
    snprintf(command, sizeof command, "eval (open('%s', 'w').close(), any(x for x in iter(int, 1)))", started);
    tui_command(&t, command);
    struct timespec pause = {0, 50 * 1000 * 1000};
    for (int i = 0; i < (int)(WAIT_SECONDS * 20) && access(started, F_OK) != 0; i++)
        nanosleep(&pause, NULL);
    ck_assert_msg(access(started, F_OK) == 0, "the :eval did not start");
    tui_keys(&t, "C-c");
    ck_assert_screen(&t, "eval: KeyboardInterrupt");
    tui_answers_then_quit(&t);
}
END_TEST

/* Check whether Ctrl-Z suspends the program like any full-screen program
 * (the shell gets the terminal back and says the job stopped), and `fg`
 * brings the browser back, answering keys.  (The shell has run the
 * `echo EXIT=` of the command line when the job stopped.) */
START_TEST(test_tui_ctrl_z_suspends_and_fg_resumes)
{
    tui t;
    tui_start(&t, 100, 30);
    tui_keys(&t, "C-z");
    ck_assert_screen(&t, "Stopped");
    tui_type(&t, "echo shell$((40+2))");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "shell42");
    tui_type(&t, "fg");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "Top suspects");
    tui_answers_then_quit(&t);
}
END_TEST

/* Check whether the : line says so when it is full instead of silently
 * dropping what is typed past its end, and whether a long line that fits
 * (600 bytes, more than the old limit) runs whole. */
START_TEST(test_tui_command_line_says_when_full)
{
    tui t;
    static char text[4300];
    tui_start(&t, 100, 30);
    /* len('x...x') of 600 x's: every byte must reach Python. */
    int n = snprintf(text, sizeof text, "eval len('");
    memset(text + n, 'x', 600);
    snprintf(text + n + 600, sizeof text - (size_t)n - 600, "')");
    tui_command(&t, text);
    ck_assert_screen(&t, "= 600");
    memset(text, 'y', 1000);
    text[1000] = '\0';
    tui_type(&t, ":");
    for (int i = 0; i < 5; i++)
        tui_type(&t, text);
    ck_assert_screen(&t, "the command line is full");
    tui_keys(&t, "Escape");
    tui_keys(&t, "q");
    ck_assert_screen(&t, "EXIT=0");
    tui_stop(&t);
}
END_TEST

Suite *suite_tui(void)
{
    Suite *s = suite_create("tui");
    TCase *tc = tcase_create("tui");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_tui_summary_shows_top_suspect);
    tcase_add_test(tc, test_tui_types_and_filter);
    tcase_add_test(tc, test_tui_instances_referrers_and_path);
    tcase_add_test(tc, test_tui_cycle_explorer_names_edge_to_break);
    tcase_add_test(tc, test_tui_garbage_shows_finalizer_cycle);
    tcase_add_test(tc, test_tui_closures_show_variable_name);
    tcase_add_test(tc, test_tui_threads_show_other_thread_local);
    tcase_add_test(tc, test_tui_help_lists_every_key);
    tcase_add_test(tc, test_tui_bad_commands_keep_browser_working);
    tcase_add_test(tc, test_tui_dump_command);
    tcase_add_test(tc, test_tui_too_small_then_resized);
    tcase_add_test(tc, test_tui_second_browser_follows_resize);
    tcase_add_test(tc, test_tui_repr_escapes_are_shown_escaped);
    tcase_add_test(tc, test_tui_quit_restores_terminal);
    tcase_add_test(tc, test_tui_other_threads_run_while_browsing);
    tcase_add_test(tc, test_tui_ctrl_c_leaves);
    tcase_add_test(tc, test_tui_sigint_restores_terminal);
    tcase_add_test(tc, test_tui_command_history_persists);
    tcase_add_test(tc, test_tui_no_terminal_raises_error);
    tcase_add_test(tc, test_tui_mark_and_growth);
    tcase_add_test(tc, test_tui_mark_marks_the_heap_now);
    tcase_add_test(tc, test_tui_browse_object_shows_no_refscope_holder);
    tcase_add_test(tc, test_tui_works_with_output_redirected);
    tcase_add_test(tc, test_tui_monochrome_ascii_flags);
    tcase_add_test(tc, test_tui_mouse_wheel_and_click);
    tcase_add_test(tc, test_tui_bench_hook_times_keys);
    tcase_add_test(tc, test_tui_ctrl_c_interrupts_eval);
    tcase_add_test(tc, test_tui_ctrl_z_suspends_and_fg_resumes);
    tcase_add_test(tc, test_tui_command_line_says_when_full);
    suite_add_tcase(s, tc);
    return s;
}
