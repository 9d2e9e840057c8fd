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
#include <sys/stat.h>
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
    /* Programs the server's hang-up ends may still be writing there. */
    sh("for i in 1 2 3 4 5 6 7 8 9 10; do rm -rf '%s' 2>/dev/null && break; sleep 0.3; done", current->home);
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

/* Starts a shell in a cols x rows pane and waits for its prompt. */
static void tui_start_shell(tui *t, int cols, int rows, const char *env)
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
}

/* Starts a shell in a cols x rows pane, runs the leaky program in it
 * (with redirect appended to its command line) and waits for the
 * browser's summary screen. */
static void tui_start_script(tui *t, int cols, int rows, const char *env, const char *script, const char *redirect)
{
    tui_start_shell(t, cols, rows, env);
    char cmd[1024];
    /* "EXIT""=" on the typed line, so that only the program's exit, not
     * the echo of this command line, puts "EXIT=" on the screen. */
    snprintf(cmd, sizeof cmd, "%s %s/%s%s; echo \"EXIT\"\"=$?\"", RS_PYTHON_EXE, RS_SOURCE_DIR, script, redirect);
    tui_type(t, cmd);
    tui_keys(t, "Enter");
    ck_assert_screen(t, "Top suspects");
}

static void tui_start_full(tui *t, int cols, int rows, const char *env, const char *redirect)
{
    tui_start_script(t, cols, rows, env, "tests/e2e/leaky_app.py", redirect);
}

static void tui_start_redirected(tui *t, int cols, int rows, const char *redirect)
{
    tui_start_full(t, cols, rows, "LANG=C.UTF-8", redirect);
}

static void tui_start(tui *t, int cols, int rows)
{
    tui_start_redirected(t, cols, rows, "");
}

/* Checks that the shell reads and runs a new command line: the terminal
 * is back in its hands, cooked and echoing. */
static void tui_expect_shell_back(tui *t)
{
    tui_type(t, "echo ok$((40+2))");
    tui_keys(t, "Enter");
    ck_assert_screen(t, "ok42");
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
    /* They fold into one row by the dict that keeps them alive. */
    ck_assert_screen(&t, "300 x ");
    ck_assert_screen(&t, "kept alive by dict 0x");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, " 1/301 ");
    ck_assert_screen(&t, "\n  0x");
    tui_keys(&t, "j Enter");
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
    tui_start(&t, 100, 80);
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
    tui_expect_shell_back(&t);
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
    tui_expect_shell_back(&t);
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

/* Check whether the browser, when it closes, unmaps the big arrays that
 * closed snapshots left mapped for the next one. */
START_TEST(test_tui_browser_gives_back_kept_arrays)
{
    tui t;
    tui_start_script(&t, 80, 24, "LANG=C.UTF-8", "tests/e2e/kept_blocks.py", "");
    tui_keys(&t, "q");
    ck_assert_screen(&t, "EXIT=0");
    ck_assert_screen(&t, "KEPT_BEFORE=some");
    ck_assert_screen(&t, "KEPT_AFTER=0");
    tui_stop(&t);
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
    ck_assert_screen(&t, "300 x ");
    tui_keys(&t, "="); /* every instance, none folded */
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
 * real drawing path, on an instances screen, an object screen and the
 * summary (with the time to that first screen and its progress screens),
 * and leaves every reference count as it was. */
START_TEST(test_tui_bench_hook_times_keys)
{
    rs_py_run("import sys, refscope\n"
              "class BenchItem: pass\n"
              "bench_items = [BenchItem() for _ in range(5000)]\n"
              "bench_dict = {i: str(i) for i in range(5000)}\n"
              "before = (sys.getrefcount(bench_items[10]), sys.getrefcount(bench_dict))\n"
              "times_instances = refscope._bench_keypress('BenchItem', 300)\n"
              "times_object = refscope._bench_keypress(bench_dict, 300)\n"
              "first_screen, progress_screens, times_summary = refscope._bench_keypress(None, 30)\n"
              "after = (sys.getrefcount(bench_items[10]), sys.getrefcount(bench_dict))\n");
    ck_assert_int_eq(rs_py_long("len(times_instances)"), 300);
    ck_assert_int_eq(rs_py_long("len(times_object)"), 300);
    ck_assert_int_eq(rs_py_long("len(times_summary)"), 30);
    ck_assert_int_eq(rs_py_long("0 < first_screen < 600"), 1);
    /* At least "finding cycles and dominators" is drawn before the summary. */
    ck_assert_int_ge(rs_py_long("progress_screens"), 1);
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

/* true when the screen shows words (spaces and line ends counted as one
 * blank), so text wrapped over rows is found whole. */
static bool screen_has_words(tui *t, const char *words)
{
    char flat[sizeof t->screen];
    size_t n = 0;
    for (const char *p = t->screen; *p && n < sizeof flat - 1; p++) {
        bool blank = *p == ' ' || *p == '\n';
        if (blank && (n == 0 || flat[n - 1] == ' '))
            continue;
        flat[n++] = blank ? ' ' : *p;
    }
    flat[n] = '\0';
    return strstr(flat, words) != NULL;
}

/* Polls until the screen shows words (see screen_has_words). */
static bool tui_wait_words(tui *t, const char *words)
{
    for (int i = 0; i < (int)(WAIT_SECONDS * 20); i++) {
        tui_capture(t);
        if (screen_has_words(t, words))
            return true;
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return false;
}

#define ck_assert_words(t, text) \
    ck_assert_msg(tui_wait_words((t), (text)), "waited for the words \"%s\"; the screen is:\n%s", (text), (t)->screen)

/* Check whether the object screen opens on what the object holds, a
 * list's items from [0], with the p c r a hint; Tab jumps to what holds
 * it; the title shows breadcrumbs and b then a digit jumps back to one;
 * s marks the sorted column and S reverses it; > scrolls a cut row. */
START_TEST(test_tui_object_screen_referents_first_and_crumbs)
{
    tui t;
    tui_start_script(&t, 80, 24, "LANG=C.UTF-8", "examples/leaky_service.py", "");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "summary > CALLBACKS");
    ck_assert_screen(&t, "holds: 2000 referents (items in index order)");
    ck_assert_screen(&t, "p path  c cycle  r retained  a allocation");
    /* The 2000 functions fold into one row; Enter lists them, [0] first. */
    ck_assert_screen(&t, "\n2000 x [0] .. [1999] ");
    ck_assert_screen(&t, " 2/4 ");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, " 2/2004 ");
    ck_assert_screen(&t, "\n  [0] ");
    ck_assert_screen(&t, "\n  [1] ");
    ck_assert_msg(strstr(t.screen, "  [1999]") == NULL, "the last item shows first:\n%s", t.screen);
    /* = lists every row without folding, and again folds them. */
    tui_keys(&t, "=");
    ck_assert_screen(&t, "listed one by one");
    ck_assert_screen(&t, "\n[0] ");
    ck_assert_screen(&t, " 2/2003 "); /* the cursor is on [0], the first row under the heading */
    tui_keys(&t, "=");
    ck_assert_screen(&t, "\n2000 x [0] .. [1999] ");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "\n  [0] ");
    tui_keys(&t, "j Enter");
    ck_assert_screen(&t, "summary > CALLBACKS > [0]");
    ck_assert_screen(&t, "held by: 1 referrer");
    tui_keys(&t, "Tab");
    ck_assert_screen(&t, " 11/11 "); /* the list holding it, the last row */
    tui_keys(&t, "Tab");
    ck_assert_screen(&t, " 2/11 ");
    /* > shows the part of the rows cut at the right edge. */
    tui_keys(&t, "Tab");
    tui_keys(&t, "'>'");
    ck_assert_screen(&t, "rows scrolled 40 columns right");
    ck_assert_screen(&t, "list[<function handle.<locals>.on_done");
    tui_keys(&t, "'<'");
    tui_keys(&t, "b");
    ck_assert_screen(&t, "back to:  1 summary  2 CALLBACKS");
    tui_keys(&t, "2");
    ck_assert_screen(&t, "holds: 2000 referents");
    ck_assert_msg(strstr(t.screen, "CALLBACKS > [0]") == NULL, "b 2 did not go back:\n%s", t.screen);
    /* Back comes to the rows it left: the group unfolded, on [0]. */
    ck_assert_screen(&t, "\n  [0] ");
    ck_assert_screen(&t, " 3/2004 ");
    tui_keys(&t, "s");
    ck_assert_screen(&t, "size▼");
    ck_assert_screen(&t, "sorted by size (biggest first)");
    tui_keys(&t, "S");
    ck_assert_screen(&t, "size▲");
    ck_assert_screen(&t, "sorted by size (smallest first)");
    tui_stop(&t);
}
END_TEST

/* Check whether, at 80 columns, the cycle explorer's advice for the edge
 * to break and for the edge under the cursor is readable whole (wrapped),
 * v shows a full value and y sends the why-alive path as OSC 52 (the
 * tmux buffer gets it) and prints it when the browser ends. */
START_TEST(test_tui_nothing_cut_at_80_columns)
{
    tui t;
    tui_start_script(&t, 80, 24, "LANG=C.UTF-8", "examples/leaky_service.py", "");
    ck_assert_int_eq(sh("tmux -L %s set -g set-clipboard on", t.socket), 0);
    tui_keys(&t, "3");
    ck_assert_screen(&t, "refscope | cycles | summary > cycles");
    tui_keys(&t, "Enter");
    ck_assert_words(&t, "edge to break: .parent (__main__.TreeNode -> __main__.TreeNode): make .parent a "
                        "weakref.ref (or weakref.proxy): it points back to the TreeNode that owns this one");
    tui_keys(&t, "j");
    ck_assert_words(&t, "this edge: .children (__main__.TreeNode -> list): set .children to None (or make it a "
                        "weakref.ref) when done; frees");
    /* The garbage screen's header wraps: the note and why a row is there. */
    tui_keys(&t, "4");
    ck_assert_screen(&t, "refscope | garbage");
    ck_assert_words(&t, "gc.garbage fills only with gc.DEBUG_SAVEALL or legacy tp_del types.");
    /* The standard library may have garbage pending (3.12's enum makes
     * some), listed first: filter to the example's own rows. */
    tui_type(&t, "/");
    tui_type(&t, "Connection");
    tui_keys(&t, "Enter");
    ck_assert_words(&t, "why: has a finalizer (__del__ of __main__.Connection) and sits in a cycle: reference "
                        "counting alone never frees it;");
    ck_assert_words(&t, "runs the finalizer then, at an unpredictable time");
    /* y on the first callback: its path goes to the clipboard. */
    tui_keys(&t, "1");
    ck_assert_screen(&t, "Top suspects");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "summary > CALLBACKS");
    tui_keys(&t, "y");
    ck_assert_words(&t, "copied to the clipboard (and printed on exit): sys.modules['__main__'].CALLBACKS[0]");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "tmux -L %s show-buffer 2>/dev/null", t.socket);
    char buffer[512] = "";
    for (int i = 0; i < 200 && strstr(buffer, "CALLBACKS[0]") == NULL; i++) {
        FILE *p = popen(cmd, "r");
        size_t n = p ? fread(buffer, 1, sizeof buffer - 1, p) : 0;
        buffer[n] = '\0';
        if (p)
            pclose(p);
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    ck_assert_str_eq(buffer, "sys.modules['__main__'].CALLBACKS[0]");
    /* v: the function's full repr in a pane. */
    tui_keys(&t, "v");
    ck_assert_screen(&t, "full value of function");
    ck_assert_screen(&t, "<function handle.<locals>.on_done at 0x");
    tui_keys(&t, "Q");
    ck_assert_screen(&t, "refscope: copied why-alive path: sys.modules['__main__'].CALLBACKS[0]");
    ck_assert_screen(&t, "EXIT=0");
    tui_stop(&t);
}
END_TEST

/* Check whether a opens the whole allocation traceback as a screen (with
 * tracemalloc on), wrapped and scrollable, and says what to do without. */
START_TEST(test_tui_allocation_traceback_screen)
{
    tui t;
    tui_start_script(&t, 200, 50, "LANG=C.UTF-8 PYTHONTRACEMALLOC=10", "examples/leaky_service.py", "");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "summary > CALLBACKS");
    tui_keys(&t, "a");
    ck_assert_screen(&t, "allocation traceback of function at 0x");
    ck_assert_screen(&t, "Allocated at (most recent call last):");
    ck_assert_screen(&t, "leaky_service.py\", line ");
    ck_assert_screen(&t, "def on_done():");
    ck_assert_screen(&t, "handle(\"req-%05d\" % i)");
    ck_assert_screen(&t, "summary > CALLBACKS > allocation");
    tui_keys(&t, "q");
    ck_assert_screen(&t, "holds: 2000 referents");
    tui_stop(&t);
}
END_TEST

/* Check whether the cycles and closures screens fold rows that share a
 * shape into one row with the right count and totals, compared with what
 * s.cycles() and the functions' cells say. */
/* Python's fmt(bytes) as rs_format_bytes() writes sizes ("4.9K"). */
#define FMT_PY                                                                                        \
    "def fmt(b):\n"                                                                                   \
    "    v, u = float(b), 0\n"                                                                        \
    "    while v >= 1024 and u < 5:\n"                                                               \
    "        v, u = v / 1024, u + 1\n"                                                               \
    "    return '%dB' % b if u == 0 else ('%.1f%s' if v < 10 else '%.0f%s') % (v, 'BKMGTP'[u])\n"

START_TEST(test_tui_grouping_counts_and_totals)
{
    rs_py_run("import refscope\n" FMT_PY
              "class GSession:\n    def __init__(self): self.state = GSessionState(self)\n"
              "class GSessionState:\n    def __init__(self, session): self.session = session; self.pad = [0] * 10\n"
              "GSESS = [GSession() for _ in range(1000)]\n"
              "def gmake(i):\n    blob = bytearray(3000 + i)\n    def cb(): return blob\n    return cb\n"
              "GCBS = [gmake(i) for i in range(700)]\n"
              "s = refscope.snapshot()\n"
              "want = [c for c in s.cycles() if sorted(type(o).__name__ for o in c.objects) == "
              "['GSession', 'GSessionState']]\n"
              "rows = refscope._screen_rows(s, 'cycles')\n"
              "grp = [r for r in rows if 'x cycle of 2: ' in r and 'GSessionState' in r]\n");
    ck_assert_int_eq(rs_py_long("len(want)"), 1000);
    ck_assert_int_eq(rs_py_long("len(grp)"), 1);
    ck_assert_str_eq(rs_py_str("grp[0].split()[3]"), "1000");
    ck_assert_str_eq(rs_py_str("grp[0].split()[0] == fmt(sum(c.retained for c in want))"), "True");
    ck_assert_str_eq(rs_py_str("grp[0].split()[1] == fmt(sum(c.size for c in want))"), "True");
    /* No other row shows one of those cycles alone. */
    ck_assert_int_eq(rs_py_long("sum('GSessionState' in r for r in rows)"), 1);
    /* The report folds them into one entry too, with the same totals. */
    rs_py_run("import json\n"
              "rep = json.loads(refscope.report(format='json', top=50, snapshot=s))\n"
              "ent = [c for c in rep['cycles']['top'] if any('GSessionState' in t for t in c['types'])]\n"
              "text = refscope.report(top=50, snapshot=s)\n");
    ck_assert_int_eq(rs_py_long("len(ent)"), 1);
    ck_assert_int_eq(rs_py_long("ent[0]['cycles']"), 1000);
    ck_assert_str_eq(rs_py_str("ent[0]['retained'] == sum(c.retained for c in want)"), "True");
    ck_assert_str_eq(rs_py_str("ent[0]['size'] == sum(c.size for c in want)"), "True");
    ck_assert_str_eq(rs_py_str("'1000 x cycle of 2 objects' in text"), "True");
    rs_py_run("import sys\n"
              "crows = [r for r in refscope._screen_rows(s, 'closures') if \"'blob' in gmake\" in r]\n"
              "cells = [f.__closure__[0].cell_contents for f in GCBS]\n");
    ck_assert_int_eq(rs_py_long("len(crows)"), 1);
    ck_assert_str_eq(rs_py_str("crows[0].startswith(\"700 x 'blob' in gmake.<locals>.cb()\")"), "True");
    ck_assert_str_eq(rs_py_str("fmt(sum(sys.getsizeof(b) for b in cells)) in crows[0].split()"), "True");
    ck_assert_str_eq(rs_py_str("fmt(sum(s.retained_size(b) for b in cells)) in crows[0].split()"), "True");
    rs_py_run("s.close()\ndel s, want, rows, grp, crows, cells, GSESS, GCBS, rep, ent, text\n");
}
END_TEST

/* Check whether the garbage screen's retained column reads what the
 * object screen reads for the same garbage object (what its collection
 * frees, as s.retained_size() says), not the dominator tree's 0. */
START_TEST(test_tui_garbage_retained_matches_object_screen)
{
    rs_py_run("import gc, refscope\n" FMT_PY
              "gc.disable()\n"
              "class GarbageNode:\n"
              "    def __init__(self, n): self.me = self; self.pad = bytearray(4000 + n)\n"
              "for i in range(3): GarbageNode(i)\n"
              "s = refscope.snapshot()\n"
              "gc.enable()\n"
              "objs = [o for o in gc.get_objects() if type(o) is GarbageNode]\n"
              "def retained_col(rows, o):\n"
              "    row = [r for r in rows if ' at 0x%x>' % id(o) in r and 'GarbageNode ' in r][0]\n"
              "    return row.split('GarbageNode ')[1].split()[1]\n"
              "grows = refscope._screen_rows(s, 'garbage')\n"
              "pairs = [(retained_col(grows, o), retained_col(refscope._screen_rows(s, 'object', o), o), "
              "fmt(s.retained_size(o))) for o in objs]\n");
    ck_assert_int_eq(rs_py_long("len(pairs)"), 3);
    ck_assert_str_eq(rs_py_str("all(g == o == want for g, o, want in pairs)"), "True");
    /* Each holds its own bytearray: more than 4000 bytes, never 0B. */
    ck_assert_str_eq(rs_py_str("all(s.retained_size(o) > 4000 for o in objs)"), "True");
    rs_py_run("s.close()\ndel s, objs, grows, pairs\ngc.collect()\n");
}
END_TEST

/* Check whether sorting the garbage screen by retained ranks rows by the
 * figure they show (what collecting each frees, s.retained_size()), not by
 * the dominator tree's 0 for every unreachable object, and whether a
 * column the screen lacks is refused with a clear error. */
START_TEST(test_tui_garbage_sorts_by_shown_retained)
{
    rs_py_run("import gc, refscope\n"
              "gc.disable()\n"
              "class RankNode:\n"
              "    def __init__(self, n): self.me = self; self.pad = bytearray(n)\n"
              "for n in (3000, 40000, 9000, 120000, 700): RankNode(n)\n"
              "s = refscope.snapshot()\n"
              "gc.enable()\n"
              "objs = [o for o in gc.get_objects() if type(o) is RankNode]\n"
              "want = ['0x%x' % id(o) for o in sorted(objs, key=s.retained_size, reverse=True)]\n"
              "rows = refscope._screen_rows(s, 'garbage', sort='retained')\n"
              "got = [a for r in rows if 'RankNode ' in r and ' object at ' in r\n"
              "       for a in ['0x%x' % id(o) for o in objs] if ' at %s>' % a in r]\n"
              "try:\n"
              "    refscope._screen_rows(s, 'garbage', sort='colour')\n"
              "    bad = 'no error'\n"
              "except ValueError as e:\n"
              "    bad = str(e)\n");
    ck_assert_int_eq(rs_py_long("len(objs)"), 5);
    ck_assert_int_eq(rs_py_long("len(set(s.retained_size(o) for o in objs))"), 5);
    ck_assert_str_eq(rs_py_str("got == want"), "True");
    ck_assert_str_eq(rs_py_str("'colour' in bad"), "True");
    rs_py_run("s.close()\ndel s, objs, want, rows, got, bad\ngc.collect()\n");
}
END_TEST

/* Opens the object screen of tests/e2e/slow_rows.py's list of 200000
 * items, every row listed (none folded). */
static void tui_start_big_list(tui *t)
{
    tui_start_script(t, 100, 30, "LANG=C.UTF-8", "tests/e2e/slow_rows.py", "");
    tui_command(t, "eval BIG");
    ck_assert_screen(t, "holds: 200000 referents");
    tui_keys(t, "=");
    ck_assert_screen(t, "listed one by one");
}

/* Check whether the object screen folds what holds an object by (type,
 * label) and what it holds by type, and the instances screen folds a
 * type's instances by what keeps them alive, each group with the count
 * gc finds and the sizes and retained sizes of its members added up, an
 * object that many edges lead to counted once. */
START_TEST(test_tui_grouping_object_and_instances_screens)
{
    rs_py_run("import gc, sys, refscope\n" FMT_PY
              "class GroupConfig:\n    pass\n"
              "class GroupSession:\n    def __init__(self, config): self.config = config\n"
              "GCONFIG = GroupConfig()\n"
              "GSESSIONS = [GroupSession(GCONFIG) for _ in range(700)]\n"
              "GOTHER = {'config': GCONFIG}\n"
              "GSAME = [GCONFIG] * 300\n"
              "s = refscope.snapshot()\n"
              "def totals(row, objs, name='GroupSession'):\n"
              "    size, retained = row.split('__main__.%s ' % name)[1].split()[:2]\n"
              "    return (size == fmt(sum(sys.getsizeof(o) for o in objs)) and\n"
              "            retained == fmt(sum(s.retained_size(o) for o in objs)))\n"
              "holders = [r for r in gc.get_referrers(GCONFIG) if type(r) is GroupSession]\n"
              "rows = refscope._screen_rows(s, 'object', GCONFIG)\n"
              "grp = [r for r in rows if ' x .config ' in r]\n"
              "items = gc.get_referents(GSESSIONS)\n"
              "lrows = refscope._screen_rows(s, 'object', GSESSIONS)\n"
              "lgrp = [r for r in lrows if ' x [0] .. [' in r]\n"
              "objs = [o for o in gc.get_objects() if type(o) is GroupSession]\n"
              "irows = refscope._screen_rows(s, 'instances', GSESSIONS[0])\n"
              "igrp = [r for r in irows if 'kept alive by list 0x%x ' % id(GSESSIONS) in r]\n"
              "srows = refscope._screen_rows(s, 'object', GSAME)\n"
              "sgrp = [r for r in srows if r.startswith('%d x [' % len(GSAME))]\n");
    ck_assert_int_eq(rs_py_long("len(holders)"), 700);
    ck_assert_int_eq(rs_py_long("len(grp)"), 1);
    ck_assert_str_eq(rs_py_str("grp[0].split()[0] == str(len(holders))"), "True");
    ck_assert_str_eq(rs_py_str("totals(grp[0], holders)"), "True");
    /* No referrer row shows one of those sessions alone. */
    ck_assert_int_eq(rs_py_long("sum('GroupSession' in r for r in rows)"), 1);
    ck_assert_int_eq(rs_py_long("len(lgrp)"), 1);
    ck_assert_str_eq(rs_py_str("lgrp[0].startswith('%d x [0] .. [%d] ' % (len(items), len(items) - 1))"), "True");
    ck_assert_str_eq(rs_py_str("totals(lgrp[0], items)"), "True");
    ck_assert_int_eq(rs_py_long("len(igrp)"), 1);
    ck_assert_str_eq(rs_py_str("igrp[0].split()[0] == str(len(objs))"), "True");
    ck_assert_str_eq(rs_py_str("totals(igrp[0], objs)"), "True");
    ck_assert_int_eq(rs_py_long("sum('GroupSession' in r for r in irows)"), 1);
    /* 300 edges to one object count its sizes once. */
    ck_assert_int_eq(rs_py_long("len(sgrp)"), 1);
    ck_assert_str_eq(rs_py_str("totals(sgrp[0], [GCONFIG], 'GroupConfig')"), "True");
    rs_py_run("s.close()\ndel s, holders, rows, grp, items, lrows, lgrp, objs, irows, igrp, srows, sgrp, GSESSIONS, "
              "GOTHER, GSAME, GCONFIG\n");
}
END_TEST

/* Check whether b reaches every breadcrumb of a long way back: numbers of
 * more than one digit go at once when no further digit could name one,
 * else on Enter, and the title stays one readable line at 80 columns. */
START_TEST(test_tui_every_breadcrumb_reachable)
{
    tui t;
    tui_start_script(&t, 80, 24, "LANG=C.UTF-8", "examples/leaky_service.py", "");
    /* 30 places back: summary, then types and cycles in turn. */
    for (int i = 0; i < 15; i++) {
        tui_keys(&t, "2");
        ck_assert_screen(&t, "refscope | types");
        tui_keys(&t, "3");
        ck_assert_screen(&t, "refscope | cycles");
    }
    ck_assert_screen(&t, "... > cycles > types > cycles");
    tui_keys(&t, "b");
    ck_assert_words(&t, "back to: 1 summary 2 types");
    ck_assert_words(&t, "30 types");
    /* 2 could go on (20-29): it waits; 5 makes 25, which cannot. */
    tui_keys(&t, "2");
    ck_assert_words(&t, "[2, Enter goes]");
    tui_keys(&t, "5");
    ck_assert_screen(&t, "refscope | cycles");
    tui_keys(&t, "b");
    ck_assert_words(&t, "24 types");
    ck_assert_msg(!screen_has_words(&t, "25 cycles"), "crumb 25 is still behind:\n%s", t.screen);
    /* 1 then Enter: the oldest of all. */
    tui_keys(&t, "1 Enter");
    ck_assert_screen(&t, "Top suspects");
    ck_assert_msg(strstr(t.screen, "summary >") == NULL, "not back at the first place:\n%s", t.screen);
    tui_stop(&t);
}
END_TEST

/* Check whether Esc stops a sort of more than 100000 rows and leaves the
 * list in its order (Esc typed with s, so it waits when s is read). */
START_TEST(test_tui_long_sort_stops_on_esc)
{
    tui t;
    tui_start_big_list(&t);
    tui_keys(&t, "s Escape");
    ck_assert_screen(&t, "sort stopped: the list is as it was");
    ck_assert_msg(strstr(t.screen, "sorted by") == NULL && strstr(t.screen, "size▼") == NULL,
                  "the list was sorted:\n%s", t.screen);
    ck_assert_screen(&t, "/200003 ");
    tui_stop(&t);
}
END_TEST

/* Check whether, at 80x24, the summary shows the selected suspect's
 * whole text (type, why-alive path and what it accumulates, with its
 * share) wrapped above the list, where the row itself is cut. */
START_TEST(test_tui_summary_detail_shows_whole_accumulation_at_80_columns)
{
    tui t;
    tui_start_script(&t, 80, 24, "LANG=C.UTF-8", "examples/leaky_service.py", "");
    ck_assert_words(&t, "list sys.modules['__main__'].CALLBACKS holds 2000 x function (");
    tui_keys(&t, "j");
    ck_assert_words(&t, "dict sys.modules['__main__'].CACHE holds 2000 x __main__.Response (");
    /* The share closes the text: "(96%)" is whole on the screen. */
    const char *at = strstr(t.screen, "__main__.Response (");
    ck_assert_ptr_nonnull(at);
    at += strlen("__main__.Response (");
    while (*at >= '0' && *at <= '9')
        at++;
    ck_assert_msg(strncmp(at, "%)", 2) == 0, "the accumulation text is cut:\n%s", t.screen);
    tui_stop(&t);
}
END_TEST

/* The bottom line of the captured screen. */
static const char *last_line(tui *t)
{
    size_t n = strlen(t->screen);
    while (n > 0 && t->screen[n - 1] == '\n')
        t->screen[--n] = '\0';
    const char *nl = strrchr(t->screen, '\n');
    return nl ? nl + 1 : t->screen;
}

/* Check whether a filter on the threads screen keeps the thread and frame
 * rows of the locals it shows, / starts empty with the last filter a key
 * (Up) away, and f finds a row without hiding the others. */
START_TEST(test_tui_filter_keeps_threads_and_find_hides_nothing)
{
    tui t;
    tui_start_script(&t, 80, 24, "LANG=C.UTF-8", "examples/leaky_service.py", "");
    tui_keys(&t, "6");
    ck_assert_screen(&t, "refscope | threads and frames");
    tui_type(&t, "/config");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "filter 'config'");
    ck_assert_screen(&t, "thread 'worker'");
    ck_assert_screen(&t, "frame worker() leaky_service.py");
    ck_assert_screen(&t, "    config ");
    ck_assert_msg(strstr(t.screen, "MainThread") == NULL, "the filter kept a thread without matches:\n%s", t.screen);
    tui_type(&t, "/");
    ck_assert_msg(tui_wait(&t, "\n/") && strcmp(last_line(&t), "/") == 0, "the / line is not empty: '%s'",
                  last_line(&t));
    tui_keys(&t, "Up");
    ck_assert_screen(&t, "\n/config");
    tui_keys(&t, "C-u Enter");
    ck_assert_screen(&t, "MainThread");
    /* f jumps to a match and hides no row. */
    tui_keys(&t, "2");
    ck_assert_screen(&t, "refscope | types");
    tui_type(&t, "f");
    tui_type(&t, "TreeNode");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "found 'TreeNode'");
    ck_assert_screen(&t, "__main__.TreeNode");
    tui_keys(&t, "g");
    ck_assert_screen(&t, "bytearray");
    ck_assert_msg(strstr(t.screen, "filter '") == NULL, "f filtered:\n%s", t.screen);
    tui_stop(&t);
}
END_TEST

/* Check whether a filter sees the items of folded groups: on CACHE's
 * object screen (2000 responses folded into one row) it finds one
 * response by its key, under its group's row, and the rows fold again
 * when the filter is cleared. */
START_TEST(test_tui_filter_finds_items_of_folded_groups)
{
    tui t;
    tui_start_script(&t, 100, 30, "LANG=C.UTF-8", "examples/leaky_service.py", "");
    tui_command(&t, "eval CACHE");
    ck_assert_screen(&t, "2000 x ['req-00000'] .. ['");
    tui_type(&t, "/req-01234");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "filter 'req-01234'");
    ck_assert_screen(&t, "  ['req-01234'] ");
    ck_assert_screen(&t, "2000 x ['req-00000'] .. ['");
    ck_assert_msg(strstr(t.screen, "['req-01233']") == NULL, "the filter kept a row that does not match:\n%s",
                  t.screen);
    /* Back from the response finds the same filtered rows. */
    tui_keys(&t, "j");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "object | ");
    tui_keys(&t, "BSpace");
    ck_assert_screen(&t, "filter 'req-01234'");
    ck_assert_screen(&t, "  ['req-01234'] ");
    tui_type(&t, "/");
    tui_keys(&t, "C-u Enter");
    ck_assert_screen(&t, "holds: 2000 referents"); /* the filter hid the heading */
    ck_assert_screen(&t, "2000 x ['req-00000'] .. ['");
    ck_assert_msg(strstr(t.screen, "['req-01234']") == NULL, "the groups did not fold again:\n%s", t.screen);
    tui_stop(&t);
}
END_TEST

/* Check whether filtering more than 100000 rows shows its progress and
 * Esc stops it, leaving the list as it was (each row's repr takes 1 ms,
 * so the filter would run for minutes). */
START_TEST(test_tui_long_filter_shows_progress_and_stops)
{
    tui t;
    tui_start_big_list(&t);
    tui_type(&t, "/nothing-matches");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "refscope: filtering (Esc stops)...");
    tui_keys(&t, "Escape");
    ck_assert_screen(&t, "filter stopped: the list is as it was");
    ck_assert_screen(&t, "holds: 200000 referents");
    ck_assert_screen(&t, "/200003 ");
    tui_stop(&t);
}
END_TEST

/* Check whether f looking through more than 100000 rows shows its
 * progress and Esc stops it, the cursor where it was (each row's repr
 * takes 1 ms, so the search would run for minutes). */
START_TEST(test_tui_long_find_shows_progress_and_stops)
{
    tui t;
    tui_start_big_list(&t);
    tui_type(&t, "fnothing-matches");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "refscope: searching (Esc stops)...");
    tui_keys(&t, "Escape");
    ck_assert_screen(&t, "search stopped: the cursor is where it was");
    ck_assert_screen(&t, "holds: 200000 referents");
    ck_assert_screen(&t, " 2/200003 ");
    tui_stop(&t);
}
END_TEST

/* Check whether Tab completes a qualified type name after :type (the
 * module part, then the class) as it does a bare one. */
START_TEST(test_tui_tab_completes_qualified_type_names)
{
    tui t;
    tui_start(&t, 100, 30);
    tui_type(&t, ":type __main__.Sess");
    tui_keys(&t, "Tab");
    ck_assert_screen(&t, "\n:type __main__.Session");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "300 objects of type __main__.Session");
    tui_type(&t, ":type __mai");
    tui_keys(&t, "Tab");
    ck_assert_screen(&t, "\n:type __main__.");
    tui_keys(&t, "Escape");
    tui_type(&t, ":type TreeNo");
    tui_keys(&t, "Tab");
    ck_assert_screen(&t, "\n:type TreeNode");
    tui_stop(&t);
}
END_TEST

/* Check whether the closures and threads screens leave out the standard
 * library's closures and frames until H shows them, and H hides them
 * again. */
START_TEST(test_tui_stdlib_rows_hidden_until_toggled)
{
    tui t;
    tui_start_script(&t, 120, 40, "LANG=C.UTF-8", "examples/leaky_service.py", "");
    tui_keys(&t, "5");
    ck_assert_words(&t, "Standard library closures:");
    ck_assert_words(&t, "hidden (H)");
    ck_assert_screen(&t, " 1/1 "); /* only the program's own group */
    tui_keys(&t, "H");
    ck_assert_words(&t, "shown (H)");
    ck_assert_msg(strstr(t.screen, " 1/1 ") == NULL, "H showed nothing more:\n%s", t.screen);
    tui_keys(&t, "6");
    ck_assert_words(&t, "Standard library frames: 0 shown (H)");
    ck_assert_screen(&t, "threading.py");
    tui_keys(&t, "H");
    ck_assert_words(&t, "hidden (H)");
    ck_assert_msg(strstr(t.screen, "threading.py") == NULL, "H left threading.py frames:\n%s", t.screen);
    ck_assert_screen(&t, "frame worker() leaky_service.py");
    tui_stop(&t);
}
END_TEST

/* Check whether the value pane (v) holds a whole string and an exception
 * with its traceback as Python formats it, wrapped at the width and
 * nothing left out. */
START_TEST(test_tui_value_pane_shows_everything)
{
    rs_py_run("import refscope, traceback\n"
              "def deep_failure():\n    raise ValueError('deep problem ' * 12)\n"
              "try:\n    deep_failure()\nexcept ValueError as e:\n    VERR = e\n"
              "VSTR = 'x' * 5000 + '\\nthe end'\n"
              "s = refscope.snapshot()\n"
              "erows = refscope._screen_rows(s, 'value', VERR)\n"
              "srows = refscope._screen_rows(s, 'value', VSTR)\n"
              "etext = ''.join(traceback.format_exception(VERR)).rstrip('\\n')\n");
    ck_assert_str_eq(rs_py_str("all(len(r) <= 80 for r in erows + srows)"), "True");
    ck_assert_str_eq(rs_py_str("''.join(srows) == VSTR.replace('\\n', '')"), "True");
    ck_assert_str_eq(rs_py_str("srows[-1]"), "the end");
    ck_assert_int_eq(rs_py_long("len(srows)"), (5000 + 79) / 80 + 1);
    ck_assert_str_eq(rs_py_str("''.join(erows) == etext.replace('\\n', '')"), "True");
    ck_assert_str_eq(rs_py_str("any('in deep_failure' in r for r in erows)"), "True");
    rs_py_run("s.close()\ndel s, erows, srows, etext, VERR, VSTR\n");
}
END_TEST

/* The screen line that holds text, copied into line (empty when none). */
static void line_with(tui *t, const char *text, char *line, size_t len)
{
    const char *at = strstr(t->screen, text);
    line[0] = '\0';
    if (at == NULL)
        return;
    const char *start = at;
    while (start > t->screen && start[-1] != '\n')
        start--;
    const char *end = strchr(at, '\n');
    snprintf(line, len, "%.*s", (int)(end ? end - start : (long)strlen(start)), start);
}

/* Check whether, on a terminal 160 columns wide or more, the object screen
 * shows what it holds and what holds it side by side, each pane with its
 * rows, the cursor crossing over with Tab, and both sections kept apart
 * when sorted either way. */
START_TEST(test_tui_object_panes_side_by_side_when_wide)
{
    tui t;
    char line[1024];
    tui_start_script(&t, 200, 50, "LANG=C.UTF-8", "examples/leaky_service.py", "");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "summary > CALLBACKS");
    tui_keys(&t, "Enter"); /* unfolds the 2000 functions */
    ck_assert_screen(&t, "(Enter folds them)");
    tui_keys(&t, "j Enter");
    ck_assert_screen(&t, "summary > CALLBACKS > [0]");
    line_with(&t, "holds: 8 referents", line, sizeof line);
    ck_assert_msg(strstr(line, "|held by: 1 referrer") != NULL, "not side by side: '%s'\n%s", line, t.screen);
    line_with(&t, ".__code__", line, sizeof line);
    ck_assert_msg(strstr(line, "|[0] ") != NULL && strstr(line, "list") != NULL, "no holder on the right: '%s'", line);
    tui_keys(&t, "Tab");
    ck_assert_screen(&t, " 11/11 ");
    const char *sorts[] = {"s", "S"};
    for (int i = 0; i < 2; i++) {
        tui_keys(&t, sorts[i]);
        ck_assert_screen(&t, i == 0 ? "size▼" : "size▲");
        line_with(&t, "holds: 8 referents", line, sizeof line);
        ck_assert_msg(strstr(line, "|held by: 1 referrer") != NULL, "sections mixed by %s: '%s'\n%s", sorts[i], line,
                      t.screen);
    }
    /* Narrower than 160 columns: one list again. */
    ck_assert_int_eq(sh("tmux -L %s resize-window -x 120 -y 40", t.socket), 0);
    ck_assert_screen(&t, "\nholds: 8 referents");
    line_with(&t, "holds: 8 referents", line, sizeof line);
    ck_assert_msg(strstr(line, "held by") == NULL, "still two panes at 120 columns: '%s'", line);
    tui_stop(&t);
}
END_TEST

/* Check whether :refresh keeps the back stack: each place finds its object
 * in the new snapshot, so Backspace still walks back the way it came. */
START_TEST(test_tui_refresh_keeps_back_stack)
{
    tui t;
    tui_start_script(&t, 100, 30, "LANG=C.UTF-8", "examples/leaky_service.py", "");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "summary > CALLBACKS");
    tui_keys(&t, "Enter"); /* unfolds the 2000 functions */
    ck_assert_screen(&t, "(Enter folds them)");
    tui_keys(&t, "j Enter");
    ck_assert_screen(&t, "summary > CALLBACKS > [0]");
    tui_command(&t, "refresh");
    ck_assert_screen(&t, "new snapshot:");
    ck_assert_screen(&t, "summary > CALLBACKS > [0]");
    ck_assert_screen(&t, "function at 0x");
    tui_keys(&t, "BSpace");
    ck_assert_screen(&t, "holds: 2000 referents (items in index order)");
    ck_assert_msg(strstr(t.screen, "> [0]") == NULL, "still on [0]:\n%s", t.screen);
    tui_keys(&t, "BSpace");
    ck_assert_screen(&t, "Top suspects");
    tui_stop(&t);
}
END_TEST

/* Check whether the man page's key table names every key of the browser's
 * key table (refscope._key_table()), so a new key cannot go undocumented. */
START_TEST(test_tui_man_page_documents_every_key)
{
    char path[512], text[65536];
    snprintf(path, sizeof path, "%s/man/refscope.1", RS_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    char *keys = strstr(text, ".SS Keys");
    ck_assert_ptr_nonnull(keys);
    char *end = strstr(keys, ".TE");
    ck_assert_ptr_nonnull(end);
    *end = '\0';
    rs_py_run("import refscope\n");
    long n = rs_py_long("len(refscope._refscope._key_table())");
    for (long i = 0; i < n; i++) {
        char expr[128], name[64];
        snprintf(expr, sizeof expr, "refscope._refscope._key_table()[%ld][0]", i);
        snprintf(name, sizeof name, "%s", rs_py_str(expr));
        bool found = name[0] >= '1' && name[0] <= '7' && name[1] == '\0' && strstr(keys, "\n1 ... 7\t") != NULL;
        /* As a word of the key column: the text before the tab of a line. */
        for (char *line = keys; !found && line != NULL; line = strchr(line + 1, '\n')) {
            char column[128];
            size_t k = 0;
            for (char *p = line + (line[0] == '\n'); *p && *p != '\t' && *p != '\n' && k < sizeof column - 1; p++)
                column[k++] = *p;
            column[k] = '\0';
            for (char *word = strtok(column, " "); word != NULL && !found; word = strtok(NULL, " "))
                found = strcmp(word, name) == 0;
        }
        ck_assert_msg(found, "man/refscope.1 does not document the key '%s'", name);
    }
}
END_TEST

/* One row of the README's walkthrough: keys (tmux key names) and the text
 * the screen then shows. */
typedef struct walk_step {
    char keys[4][128];
    int key_count;
    char expect[128];
} walk_step;

/* Copies the backticked pieces of cell into out (at most max); returns
 * how many. */
static int backticked(const char *cell, const char *end, char out[][128], int max, size_t size)
{
    int n = 0;
    for (const char *p = cell; p < end && n < max;) {
        const char *open = memchr(p, '`', (size_t)(end - p));
        const char *close = open ? memchr(open + 1, '`', (size_t)(end - open - 1)) : NULL;
        if (close == NULL)
            break;
        snprintf(out[n++], size, "%.*s", (int)(close - open - 1), open + 1);
        p = close + 1;
    }
    return n;
}

/* Reads the walkthrough table of README.md into steps; returns the count. */
static int read_walkthrough(walk_step *steps, int max)
{
    char path[512], text[65536];
    snprintf(path, sizeof path, "%s/README.md", RS_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *section = strstr(text, "### Walkthrough");
    ck_assert_ptr_nonnull(section);
    const char *line = strstr(section, "\n|---");
    ck_assert_ptr_nonnull(line);
    int count = 0;
    for (line = strchr(line + 1, '\n'); line && line[1] == '|' && count < max; line = strchr(line + 1, '\n')) {
        const char *row = line + 1, *end = strchr(row, '\n');
        const char *c1 = strchr(row + 1, '|'), *c2 = c1 ? strchr(c1 + 1, '|') : NULL;
        const char *c3 = c2 ? strchr(c2 + 1, '|') : NULL;
        ck_assert_msg(c3 != NULL && c3 < end, "walkthrough row without three columns: %.*s", (int)(end - row), row);
        char keys[8][128], expect[1][128];
        walk_step *w = &steps[count++];
        w->key_count = backticked(c1, c2, keys, 8, sizeof keys[0]);
        ck_assert_msg(w->key_count >= 1 && w->key_count <= 3, "a walkthrough leak takes %d keys: %.*s", w->key_count,
                      (int)(end - row), row);
        for (int k = 0; k < w->key_count; k++)
            snprintf(w->keys[k], sizeof w->keys[k], "%s", keys[k]);
        ck_assert_int_eq(backticked(c2, c3, expect, 1, sizeof expect[0]), 1);
        snprintf(w->expect, sizeof w->expect, "%s", expect[0]);
    }
    return count;
}

static const int walk_sizes[][2] = {{80, 24}, {200, 50}};

/* Check whether every planted leak of examples/leaky_service.py is reached
 * from the summary with the keys README.md's walkthrough gives (three at
 * most), at 80x24 and at 200x50. */
START_TEST(test_tui_walkthrough_reaches_each_leak)
{
    walk_step steps[16];
    int count = read_walkthrough(steps, 16);
    ck_assert_int_ge(count, 6);
    tui t;
    tui_start_script(&t, walk_sizes[_i][0], walk_sizes[_i][1], "LANG=C.UTF-8", "examples/leaky_service.py", "");
    for (int i = 0; i < count; i++) {
        tui_keys(&t, "1");
        ck_assert_screen(&t, "Top suspects");
        ck_assert_msg(strstr(t.screen, steps[i].expect) == NULL, "the summary already shows \"%s\":\n%s",
                      steps[i].expect, t.screen);
        for (int k = 0; k < steps[i].key_count; k++) {
            char key[160];
            snprintf(key, sizeof key, "'%.100s'", steps[i].keys[k]);
            tui_keys(&t, key);
        }
        ck_assert_screen(&t, steps[i].expect);
    }
    tui_stop(&t);
}
END_TEST

/* Check whether :save with a relative name says the whole path it wrote,
 * in the program's directory (not the attached user's). */
START_TEST(test_tui_save_names_whole_path)
{
    tui t;
    tui_start(&t, 120, 30);
    char command[600], expected[600], path[600];
    snprintf(command, sizeof command, "eval __import__('os').chdir('%s')", t.home);
    tui_command(&t, command);
    ck_assert_screen(&t, "done (None)");
    tui_command(&t, "save rel-heap.json");
    snprintf(expected, sizeof expected, "saved %s/rel-heap.json (JSON", t.home);
    ck_assert_screen(&t, expected);
    snprintf(path, sizeof path, "%s/rel-heap.json", t.home);
    struct stat st;
    ck_assert_msg(stat(path, &st) == 0 && st.st_size > 1000, "%s was not written", path);
    tui_stop(&t);
}
END_TEST

/* Runs the leaky program in the shell without its browser, then the
 * Python statements code (which write dumps), and waits until they ran. */
static void tui_leaky_dumps(tui *t, const char *code)
{
    char cmd[2048];
    /* "DUMP""ED": only the output, not the command line, shows "DUMPED". */
    snprintf(cmd, sizeof cmd,
             "LEAKY_NO_BROWSE=1 %s -c \"exec(open('%s/tests/e2e/leaky_app.py').read()); import refscope; %s\"; "
             "echo \"DUMP\"\"ED\"",
             RS_PYTHON_EXE, RS_SOURCE_DIR, code);
    tui_type(t, cmd);
    tui_keys(t, "Enter");
    ck_assert_screen(t, "DUMPED");
}

/* Runs `refscope open ARGS` on a cleared screen; "EXIT=status" follows. */
static void tui_refscope_open(tui *t, const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "clear; %s/../bin/refscope open %s; echo \"EXIT\"\"=$?\"", RS_BUILD_LIB, args);
    tui_type(t, cmd);
    tui_keys(t, "Enter");
}

/* q out of every screen of `refscope open`: status 0, the terminal back. */
static void tui_leave_open(tui *t)
{
    for (int i = 0; i < 4; i++)
        tui_keys(t, "q");
    ck_assert_screen(t, "EXIT=0");
    tui_expect_shell_back(t);
}

/* Check whether `refscope open FILE` at 80x24 refuses a file that is not
 * a dump with one line and status 1, then browses a dump of the leaky
 * program: the title names the dump, Enter on the summary's top suspect
 * reaches the planted sessions, an object shows its referrer with its
 * label and p its why-alive path, :eval is refused with the reason, and
 * q gives the terminal back. */
START_TEST(test_tui_open_dump)
{
    tui t;
    tui_start_shell(&t, 80, 24, "LANG=C.UTF-8");
    char args[512];
    snprintf(args, sizeof args, "refscope.dump('%s/leaky.rsd')", t.home);
    tui_leaky_dumps(&t, args);
    /* A short path, so that the message's line does not wrap at 80
     * columns wherever the checkout is. */
    ck_assert_int_eq(sh("cp '%s/README.md' '%s/notes.txt'", RS_SOURCE_DIR, t.home), 0);
    snprintf(args, sizeof args, "%s/notes.txt", t.home);
    tui_refscope_open(&t, args);
    ck_assert_screen(&t, "EXIT=1");
    ck_assert_screen(&t, "is not a usable refscope dump");
    ck_assert_msg(strstr(t.screen, "Traceback") == NULL, "a traceback for a bad file:\n%s", t.screen);
    snprintf(args, sizeof args, "%s/leaky.rsd", t.home);
    tui_refscope_open(&t, args);
    ck_assert_screen(&t, "Top suspects");
    ck_assert_screen(&t, " refscope: dump of PID ");
    ck_assert_screen(&t, ", Python 3.");
    ck_assert_screen(&t, "sys.modules['__main__'].SESSIONS");
    /* The first suspect is the sessions dict; its 300 Sessions fold into
     * one row, Enter lists them, and the first is a Session. */
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "holds: 300 referents");
    ck_assert_screen(&t, "\n300 x ['session-0'] .. ");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "\n  ['session-0'] ");
    tui_keys(&t, "j");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "__main__.Session at 0x");
    ck_assert_screen(&t, "held by: 1 referrer");
    ck_assert_screen(&t, "['session-");
    ck_assert_screen(&t, ".payload");
    tui_keys(&t, "p");
    ck_assert_screen(&t, "alive via: sys.modules['__main__'].SESSIONS['session-");
    tui_command(&t, "eval 1");
    ck_assert_screen(&t, ":eval needs the live process");
    ck_assert_screen(&t, "its objects are not here");
    tui_leave_open(&t);
    tui_stop(&t);
}
END_TEST

/* Check whether `refscope open NEW --diff OLD` first shows what grew
 * since the older dump with the grown holder's path on top, Enter opens
 * that holder in the newer dump, and :diff comes back to the diff. */
START_TEST(test_tui_open_dump_diff)
{
    tui t;
    tui_start_shell(&t, 80, 24, "LANG=C.UTF-8");
    char args[1024];
    snprintf(args, sizeof args,
             "refscope.dump('%s/old.rsd'); SESSIONS.update(('more-%%d' %% i, Session(i)) for i in range(1000)); "
             "refscope.dump('%s/new.rsd')",
             t.home, t.home);
    tui_leaky_dumps(&t, args);
    snprintf(args, sizeof args, "--diff %s/old.rsd %s/new.rsd", t.home, t.home);
    tui_refscope_open(&t, args);
    ck_assert_screen(&t, "Growth since old.rsd (taken ");
    ck_assert_screen(&t, "Growth by holder");
    /* The sessions dict grew most: 1000 sessions and a payload each. */
    const char *heading = strstr(t.screen, "Growth by holder");
    const char *first = heading ? strchr(heading, '\n') : NULL;
    ck_assert_ptr_nonnull(first);
    char grown[32], path[128];
    long long objects = 0;
    ck_assert_msg(sscanf(first, " %31s %lld %127s", grown, &objects, path) == 3 &&
                      strcmp(path, "sys.modules['__main__'].SESSIONS") == 0 && grown[0] == '+' &&
                      strchr(grown, 'M') != NULL && objects >= 2000,
                  "the first holder is not the grown sessions dict:\n%s", t.screen);
    tui_keys(&t, "Down");
    tui_keys(&t, "Enter");
    ck_assert_screen(&t, "holds: 1300 referents");
    tui_command(&t, "diff");
    ck_assert_screen(&t, "Growth since old.rsd");
    tui_leave_open(&t);
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
    tcase_add_test(tc, test_tui_browser_gives_back_kept_arrays);
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
    tcase_add_test(tc, test_tui_object_screen_referents_first_and_crumbs);
    tcase_add_test(tc, test_tui_nothing_cut_at_80_columns);
    tcase_add_test(tc, test_tui_allocation_traceback_screen);
    tcase_add_test(tc, test_tui_man_page_documents_every_key);
    tcase_add_test(tc, test_tui_refresh_keeps_back_stack);
    tcase_add_test(tc, test_tui_tab_completes_qualified_type_names);
    tcase_add_test(tc, test_tui_stdlib_rows_hidden_until_toggled);
    tcase_add_test(tc, test_tui_value_pane_shows_everything);
    tcase_add_test(tc, test_tui_object_panes_side_by_side_when_wide);
    tcase_add_test(tc, test_tui_long_filter_shows_progress_and_stops);
    tcase_add_test(tc, test_tui_long_find_shows_progress_and_stops);
    tcase_add_test(tc, test_tui_grouping_counts_and_totals);
    tcase_add_test(tc, test_tui_garbage_retained_matches_object_screen);
    tcase_add_test(tc, test_tui_garbage_sorts_by_shown_retained);
    tcase_add_test(tc, test_tui_filter_finds_items_of_folded_groups);
    tcase_add_test(tc, test_tui_summary_detail_shows_whole_accumulation_at_80_columns);
    tcase_add_test(tc, test_tui_grouping_object_and_instances_screens);
    tcase_add_test(tc, test_tui_every_breadcrumb_reachable);
    tcase_add_test(tc, test_tui_long_sort_stops_on_esc);
    tcase_add_test(tc, test_tui_filter_keeps_threads_and_find_hides_nothing);
    tcase_add_loop_test(tc, test_tui_walkthrough_reaches_each_leak, 0,
                        (int)(sizeof walk_sizes / sizeof walk_sizes[0]));
    tcase_add_test(tc, test_tui_save_names_whole_path);
    tcase_add_test(tc, test_tui_open_dump);
    tcase_add_test(tc, test_tui_open_dump_diff);
    suite_add_tcase(s, tc);
    return s;
}
