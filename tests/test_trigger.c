/* The ways in from outside the program (src/trigger.c, src/attach.c,
 * src/cli.c): the socket directory and stale sockets, install()/uninstall(),
 * the `refscope` command, and in real terminals (a private tmux server,
 * tmux -L refscope-trig-PID, read back with capture-pane): the hotkey while
 * the main thread blocks, `refscope attach` from a second terminal (with
 * install() and through gdb without it), `refscope report`, another user
 * refused, the target dying while attached, and breakpoint().
 * The program poked at: tests/trigger_target.py. */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pytest_helpers.h"
#include "suites.h"

#define CLI RS_BUILD_LIB "/../bin/refscope"
#define TARGET RS_SOURCE_DIR "/tests/trigger_target.py"
/* The browser's home screen says this in its title line. */
#define HOME_SCREEN "summary"
/* Seconds any one thing may take before the test gives up on it. */
#define WAIT 30.0

/* Made by the runner before the tests of a case fork and removed after
 * them, with every tmux server named in its "servers" file: a failing
 * test leaves through _exit(), so its own cleanup never runs. */
static char suite_dir[64];

static struct {
    char dir[96];   /* private TMPDIR of the test and its targets */
    char tmux[64];  /* -L name of the private tmux server */
    char env[1400]; /* `env ...` prefix for Python programs started by tests */
    char bare[1024]; /* the same without PYTHONPATH: refscope not importable */
    bool tmux_started;
} fx;

/* --- Running commands ------------------------------------------------------------ */

static int run(char *out, size_t len, const char *format, ...) __attribute__((format(printf, 3, 4)));

/* Runs a shell command with stdout and stderr into out; returns its exit
 * status (or -1). */
static int run(char *out, size_t len, const char *format, ...)
{
    char command[8192], line[8192];
    va_list ap;
    va_start(ap, format);
    vsnprintf(line, sizeof line, format, ap);
    va_end(ap);
    snprintf(command, sizeof command, "{ %.8180s\n} 2>&1", line);
    FILE *p = popen(command, "r");
    if (p == NULL)
        return -1;
    size_t used = 0;
    char sink[4096];
    for (;;) {
        char *at = out != NULL && used < len - 1 ? out + used : sink;
        size_t room = out != NULL && used < len - 1 ? len - 1 - used : sizeof sink;
        size_t n = fread(at, 1, room, p);
        if (n == 0)
            break;
        if (at != sink)
            used += n;
    }
    if (out != NULL)
        out[used] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void pause_briefly(void)
{
    nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
}

static long read_number(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", fx.dir, name);
    FILE *f = fopen(path, "r");
    long value = -1;
    if (f != NULL) {
        if (fscanf(f, "%ld", &value) != 1)
            value = -1;
        fclose(f);
    }
    return value;
}

/* Waits until the counter file name is above value; false on timeout. */
static bool wait_number_above(const char *name, long value)
{
    for (double end = now() + WAIT; now() < end; pause_briefly())
        if (read_number(name) > value)
            return true;
    return false;
}

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", fx.dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* --- The fixture: a private TMPDIR and tmux server per test -------------------- */

/* Stops the tmux server called name and removes its socket, which tmux
 * leaves behind. */
static void tmux_kill(const char *name)
{
    char ignored[256];
    const char *tmpdir = getenv("TMUX_TMPDIR");
    run(ignored, sizeof ignored, "tmux -L %s kill-server; rm -f %s/tmux-%u/%s", name,
        tmpdir != NULL && tmpdir[0] == '/' ? tmpdir : "/tmp", (unsigned)geteuid(), name);
}

static void fixture_cleanup(void)
{
    char ignored[256];
    if (fx.tmux_started)
        tmux_kill(fx.tmux);
    if (fx.dir[0] != '\0')
        run(ignored, sizeof ignored, "chmod -R u+rwx %s; rm -rf %s", fx.dir, fx.dir);
}

static void suite_setup(void)
{
    snprintf(suite_dir, sizeof suite_dir, "/tmp/rs-trig-XXXXXX");
    if (mkdtemp(suite_dir) == NULL)
        suite_dir[0] = '\0';
}

static void suite_teardown(void)
{
    char path[128], name[64], ignored[256];
    if (suite_dir[0] == '\0')
        return;
    snprintf(path, sizeof path, "%s/servers", suite_dir);
    FILE *f = fopen(path, "r");
    while (f != NULL && fscanf(f, "%63s", name) == 1)
        tmux_kill(name);
    if (f != NULL)
        fclose(f);
    run(ignored, sizeof ignored, "chmod -R u+rwx %s; rm -rf %s", suite_dir, suite_dir);
}

/* The ASan runtime when this build is sanitized: Python programs started
 * by the tests load the sanitized module, so they need it preloaded. */
static const char *asan_runtime(void)
{
#if defined(__SANITIZE_ADDRESS__)
    Dl_info info;
    void *symbol = dlsym(RTLD_DEFAULT, "__asan_init");
    if (symbol != NULL && dladdr(symbol, &info) != 0)
        return info.dli_fname;
#endif
    return NULL;
}

static void fixture_init(void)
{
    ck_assert_msg(suite_dir[0] != '\0', "no temporary directory for the trigger tests");
    snprintf(fx.dir, sizeof fx.dir, "%s/XXXXXX", suite_dir);
    ck_assert_msg(mkdtemp(fx.dir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(fx.tmux, sizeof fx.tmux, "refscope-trig-%ld", (long)getpid());
    atexit(fixture_cleanup);
    setenv("TMPDIR", fx.dir, 1);
    unsetenv("XDG_RUNTIME_DIR");
    const char *asan = asan_runtime();
    char sanitizer[512] = "";
    if (asan != NULL)
        snprintf(sanitizer, sizeof sanitizer, " LD_PRELOAD=%s ASAN_OPTIONS=detect_leaks=0 PYTHONMALLOC=malloc", asan);
    snprintf(fx.bare, sizeof fx.bare, "env -u XDG_RUNTIME_DIR -u PYTHONPATH TMPDIR=%s%s", fx.dir, sanitizer);
    snprintf(fx.env, sizeof fx.env, "%s PYTHONPATH=%s", fx.bare, RS_BUILD_LIB);
}

/* Skips terminal tests where they cannot run; says why. */
static bool terminal_tests_possible(void)
{
    char out[256];
    if (getenv("RS_VALGRIND") != NULL) {
        fprintf(stderr, "test_trigger: terminal tests skipped under valgrind (they start tmux, Python and gdb)\n");
        return false;
    }
    ck_assert_msg(run(out, sizeof out, "command -v tmux") == 0, "tmux is missing: make deps installs it");
    return true;
}

static const char *pane(const char *window)
{
    static char screen[65536];
    run(screen, sizeof screen, "tmux -L %s capture-pane -p -J -t rs:=%s", fx.tmux, window);
    return screen;
}

static bool wait_pane(const char *window, const char *text)
{
    for (double end = now() + WAIT; now() < end; pause_briefly())
        if (strstr(pane(window), text) != NULL)
            return true;
    return false;
}

/* 1 while the pane shows the alternate screen (curses is on it). */
static int alternate(const char *window)
{
    char out[64];
    run(out, sizeof out, "tmux -L %s display -p -t rs:=%s '#{alternate_on}'", fx.tmux, window);
    return atoi(out);
}

static bool wait_alternate(const char *window, int on)
{
    for (double end = now() + WAIT; now() < end; pause_briefly())
        if (alternate(window) == on)
            return true;
    return false;
}

/* Starts command (a shell command line) in a new window of the server. */
static void tmux_window(const char *window, const char *command)
{
    char out[1024];
    int status;
    if (!fx.tmux_started) {
        status = run(out, sizeof out,
                     "tmux -L %s -f /dev/null new-session -d -s rs -x 100 -y 30 -n %s \"%s\" && "
                     "tmux -L %s set-option -g default-size 100x30",
                     fx.tmux, window, command, fx.tmux);
        fx.tmux_started = true;
        char servers[128];
        snprintf(servers, sizeof servers, "%s/servers", suite_dir);
        FILE *f = fopen(servers, "a");
        if (f != NULL) {
            fprintf(f, "%s\n", fx.tmux);
            fclose(f);
        }
    } else {
        status = run(out, sizeof out, "tmux -L %s new-window -d -t rs: -n %s \"%s\"", fx.tmux, window, command);
    }
    ck_assert_msg(status == 0, "tmux cannot start %s: %s", window, out);
}

static void tmux_keys(const char *window, const char *keys)
{
    char out[256];
    run(out, sizeof out, "tmux -L %s send-keys -t rs:=%s %s", fx.tmux, window, keys);
}

/* How a target is started: plain Python, under `refscope run`, or plain
 * Python that cannot import refscope by itself. */
typedef enum { PLAIN, UNDER_RUN, BARE } start_mode;

/* Starts tests/trigger_target.py in window "target" and returns its PID
 * once it is ready. */
static pid_t start_target(const char *options, start_mode mode)
{
    char command[2048];
    snprintf(command, sizeof command, "timeout --foreground 120 %s %s %s %s %s; sleep 120",
             mode == BARE ? fx.bare : fx.env, mode == UNDER_RUN ? CLI " run --quiet" : RS_PYTHON_EXE, TARGET,
             fx.dir, options);
    tmux_window("target", command);
    for (double end = now() + WAIT; now() < end; pause_briefly())
        if (read_number("pid") > 0 && read_number("ticks") > 0)
            return (pid_t)read_number("pid");
    ck_abort_msg("the target did not start; its pane shows:\n%s", pane("target"));
    return -1;
}

/* Runs `refscope ARGS` in window "client" through a script that then
 * prints its exit status and the terminal's modes (to see they are
 * restored) and stays, so the screen can be read. */
static void start_client(const char *env, const char *args)
{
    /* The script outlives a Ctrl-C meant for the client (a trap, unlike
     * an ignored signal, is not inherited). */
    write_file("client.sh", "trap : INT\n"
                            "\"$@\"\n"
                            "echo \"client-exit=$?\"\n"
                            "echo \"modes: $(stty -a | tr ' ;' '\\n\\n' | grep -x -e -icanon -e icanon -e -echo "
                            "-e echo | tr '\\n' ' ')\"\n"
                            "exec sleep 120\n");
    char command[2048];
    snprintf(command, sizeof command, "timeout --foreground 120 %s sh %s/client.sh %s", env, fx.dir, args);
    tmux_window("client", command);
}

static void assert_browser_open(const char *window)
{
    ck_assert_msg(wait_alternate(window, 1) && wait_pane(window, HOME_SCREEN),
                  "the browser did not open in window %s; it shows:\n%s", window, pane(window));
}

static void assert_target_alive(pid_t pid)
{
    long ticks = read_number("ticks");
    ck_assert_msg(kill(pid, 0) == 0, "the target is gone");
    ck_assert_msg(wait_number_above("ticks", ticks + 2), "the target stopped working; its pane shows:\n%s",
                  pane("target"));
}

/* The socket directory of this user under the test's TMPDIR. */
static void socket_dir(char *buf, size_t len)
{
    snprintf(buf, len, "%s/refscope-%u", fx.dir, (unsigned)geteuid());
}

/* Creates a unix socket file at path that nobody listens on. */
static void make_dead_socket(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_msg(bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0, "bind %s: %s", path, strerror(errno));
    close(fd);
}

static pid_t dead_pid(void)
{
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0);
    return child;
}

/* --- In-process: the directory, install twice, uninstall, stale sockets ------- */

/* Where the socket goes: TMPDIR (no XDG_RUNTIME_DIR), XDG_RUNTIME_DIR, and a
 * directory left with loose permissions that install() makes private. */
static const char *const dir_cases[] = {"tmpdir", "xdg", "loose"};

START_TEST(test_trigger_socket_dir_private)
{
    /* Check whether install() puts its socket in a 0700 directory of ours
     * named as DESIGN.md says, and returns the socket's path. */
    char expected_dir[256], expected[512], xdg[128];
    fixture_init();
    if (strcmp(dir_cases[_i], "xdg") == 0) {
        snprintf(xdg, sizeof xdg, "%s/xdg", fx.dir);
        ck_assert_int_eq(mkdir(xdg, 0700), 0);
        setenv("XDG_RUNTIME_DIR", xdg, 1);
        snprintf(expected_dir, sizeof expected_dir, "%s/refscope", xdg);
    } else {
        socket_dir(expected_dir, sizeof expected_dir);
    }
    if (strcmp(dir_cases[_i], "loose") == 0) {
        ck_assert_int_eq(mkdir(expected_dir, 0755), 0);
        ck_assert_int_eq(chmod(expected_dir, 0755), 0);
    }
    snprintf(expected, sizeof expected, "%s/%ld.sock", expected_dir, (long)getpid());
    rs_py_run("import refscope\npath = refscope.install()\n");
    ck_assert_str_eq(rs_py_str("path"), expected);
    struct stat st;
    ck_assert_int_eq(stat(expected_dir, &st), 0);
    ck_assert_msg((st.st_mode & 0777) == 0700, "mode %o", st.st_mode & 0777);
    ck_assert_int_eq(st.st_uid, geteuid());
    ck_assert_int_eq(lstat(expected, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    rs_py_run("refscope.uninstall()\n");
    ck_assert_int_eq(access(expected, F_OK), -1);
}
END_TEST

START_TEST(test_trigger_install_twice_uninstall_restores)
{
    /* Check whether installing twice changes nothing, moving to another
     * signal gives the first one back, and uninstall() restores the
     * program's own handler and removes the socket (twice is harmless). */
    fixture_init();
    rs_py_run("import os, signal, refscope\n"
              "def mine(signum, frame): pass\n"
              "signal.signal(signal.SIGUSR1, mine)\n"
              "first = refscope.install()\n"
              "ours = signal.getsignal(signal.SIGUSR1)\n"
              "second = refscope.install()\n"
              "same = (first == second, signal.getsignal(signal.SIGUSR1) is ours, ours is not mine)\n"
              "refscope.install(signal.SIGUSR2)\n"
              "moved = (signal.getsignal(signal.SIGUSR1) is mine, signal.getsignal(signal.SIGUSR2) is ours)\n"
              "refscope.uninstall()\n"
              "after = (signal.getsignal(signal.SIGUSR1) is mine,\n"
              "         signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL, os.path.exists(first))\n"
              "refscope.uninstall()\n");
    ck_assert_str_eq(rs_py_str("same"), "(True, True, True)");
    ck_assert_str_eq(rs_py_str("moved"), "(True, True)");
    ck_assert_str_eq(rs_py_str("after"), "(True, True, False)");
}
END_TEST

START_TEST(test_trigger_stale_socket_removed)
{
    /* Check whether install() removes the sockets of dead processes and
     * keeps those of live ones, and whether the client removes a socket
     * nobody listens on and says what it did. */
    char dir[256], dead[512], live[512], orphan[512], out[8192];
    fixture_init();
    socket_dir(dir, sizeof dir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    pid_t gone = dead_pid();
    snprintf(dead, sizeof dead, "%s/%ld.sock", dir, (long)gone);
    snprintf(live, sizeof live, "%s/%ld.sock", dir, (long)getppid());
    make_dead_socket(dead);
    make_dead_socket(live);
    rs_py_run("import refscope\nrefscope.install()\n");
    ck_assert_msg(access(dead, F_OK) == -1, "the socket of dead PID %ld is still there", (long)gone);
    ck_assert_msg(access(live, F_OK) == 0, "the socket of live PID %ld was removed", (long)getppid());

    /* A live process that is no Python program, with a socket nobody
     * listens on: removed, then no listener can be started. */
    pid_t sleeper = fork();
    if (sleeper == 0) {
        execlp("sleep", "sleep", "60", (char *)NULL);
        _exit(127);
    }
    snprintf(orphan, sizeof orphan, "%s/%ld.sock", dir, (long)sleeper);
    make_dead_socket(orphan);
    int status = run(out, sizeof out, "%s report %ld", CLI, (long)sleeper);
    kill(sleeper, SIGKILL);
    waitpid(sleeper, NULL, 0);
    ck_assert_msg(status == 1, "exit %d: %s", status, out);
    ck_assert_msg(strstr(out, "removed") != NULL && access(orphan, F_OK) == -1, "%s", out);
    ck_assert_msg(strstr(out, "does not look like a Python program") != NULL, "%s", out);
    status = run(out, sizeof out, "%s attach %ld", CLI, (long)gone);
    ck_assert_msg(status == 1 && strstr(out, "no process with PID") != NULL, "exit %d: %s", status, out);
}
END_TEST

START_TEST(test_trigger_install_errors)
{
    /* Check whether install() refuses what cannot work with refscope.Error
     * saying why, and leaves no handler behind when it fails. */
    fixture_init();
    rs_py_run("import signal, threading, refscope\n"
              "def error_of(fn, *args):\n"
              "    try:\n"
              "        fn(*args)\n"
              "    except refscope.Error as e:\n"
              "        return str(e)\n"
              "    return 'no error'\n"
              "winch = error_of(refscope.install, signal.SIGWINCH)\n"
              "box = []\n"
              "t = threading.Thread(target=lambda: box.append(error_of(refscope.install)))\n"
              "t.start(); t.join()\n"
              "from_thread = box[0]\n");
    ck_assert_msg(strstr(rs_py_str("winch"), "SIGWINCH") != NULL, "%s", rs_py_str("winch"));
    ck_assert_msg(strstr(rs_py_str("from_thread"), "main thread") != NULL, "%s", rs_py_str("from_thread"));
    if (geteuid() != 0)
        return; /* a directory owned by someone else needs root to make */
    char dir[256];
    socket_dir(dir, sizeof dir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    ck_assert_int_eq(chown(dir, 65534, 65534), 0);
    rs_py_run("planted = error_of(refscope.install)\n"
              "left = signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL\n");
    ck_assert_msg(strstr(rs_py_str("planted"), "not a directory of yours") != NULL, "%s", rs_py_str("planted"));
    ck_assert_str_eq(rs_py_str("left"), "True");
}
END_TEST

START_TEST(test_trigger_hotkey_without_terminal)
{
    /* Check whether the hotkey in a program without a terminal (a daemon)
     * reports why through sys.unraisablehook, naming `refscope attach`,
     * and the program goes on. */
    char out[4096];
    fixture_init();
    write_file("daemon.py", "import os, signal, time, refscope\n"
                            "refscope.install()\n"
                            "os.kill(os.getpid(), signal.SIGUSR1)\n"
                            "time.sleep(0.1)\n"
                            "print('still running')\n");
    int status = run(out, sizeof out, "%s setsid -w %s %s/daemon.py </dev/null", fx.env, RS_PYTHON_EXE, fx.dir);
    ck_assert_msg(status == 0, "exit %d: %s", status, out);
    ck_assert_msg(strstr(out, "the hotkey could not open the browser: no terminal") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "refscope attach") != NULL && strstr(out, "still running") != NULL, "%s", out);
}
END_TEST

START_TEST(test_trigger_attach_explains_missing_gdb)
{
    /* Check whether report/attach on a Python program without a listener,
     * when gdb is not there, says to install it or start the program with
     * `refscope run`, and leaves the program alone. */
    char out[4096];
    fixture_init();
    pid_t python = fork();
    if (python == 0) {
        execl(RS_PYTHON_EXE, RS_PYTHON_EXE, "-c", "import time; time.sleep(60)", (char *)NULL);
        _exit(127);
    }
    /* Wait until the child runs Python, no longer this test's fork. */
    char exe[64], python_path[4096], running[4096];
    snprintf(exe, sizeof exe, "/proc/%ld/exe", (long)python);
    ck_assert(realpath(RS_PYTHON_EXE, python_path) != NULL);
    for (double end = now() + WAIT; now() < end; pause_briefly()) {
        ssize_t n = readlink(exe, running, sizeof running - 1);
        running[n > 0 ? n : 0] = '\0';
        if (strcmp(running, python_path) == 0)
            break;
    }
    int status = run(out, sizeof out, "env PATH=/nonexistent %s report %ld", CLI, (long)python);
    bool alive = kill(python, 0) == 0;
    kill(python, SIGKILL);
    waitpid(python, NULL, 0);
    ck_assert_msg(status == 1, "exit %d: %s", status, out);
    ck_assert_msg(strstr(out, "needs gdb, which is not installed") && strstr(out, "refscope run"), "%s", out);
    ck_assert(alive);
}
END_TEST

/* --- The command ------------------------------------------------------------------ */

START_TEST(test_trigger_cli_usage_and_run)
{
    /* Check whether the command answers --help/--version (also as
     * python3 -m refscope), rejects a bad command line with status 2, and
     * whether `run` runs a script and a module with install() done, their
     * arguments, and the program's exit status. */
    char out[8192];
    fixture_init();
    ck_assert_int_eq(run(out, sizeof out, "%s --version", CLI), 0);
    ck_assert_msg(strncmp(out, "refscope ", 9) == 0, "%s", out);
    ck_assert_int_eq(run(out, sizeof out, "%s --help", CLI), 0);
    ck_assert_msg(strstr(out, "refscope run") && strstr(out, "refscope attach PID") && strstr(out, "refscope report"),
                  "%s", out);
    ck_assert_int_eq(run(out, sizeof out, "%s %s -m refscope --version", fx.env, RS_PYTHON_EXE), 0);
    ck_assert_msg(strncmp(out, "refscope ", 9) == 0, "%s", out);
    ck_assert_int_eq(run(out, sizeof out, "%s frobnicate", CLI), 2);
    ck_assert_int_eq(run(out, sizeof out, "%s run", CLI), 2);
    ck_assert_int_eq(run(out, sizeof out, "%s run --signal NOPE x.py", CLI), 2);
    ck_assert_int_eq(run(out, sizeof out, "%s attach", CLI), 2);
    ck_assert_int_eq(run(out, sizeof out, "%s report --top 0 1", CLI), 2);

    write_file("probe.py", "import signal, sys\n"
                           "print('handler', getattr(signal.getsignal(signal.SIGUSR2), '__name__', None))\n"
                           "print('argv', sys.argv[1:], __name__)\n"
                           "sys.exit(7)\n");
    int status = run(out, sizeof out, "cd %s && %s %s run --signal USR2 probe.py a 'b c'", fx.dir, fx.env, CLI);
    ck_assert_msg(status == 7, "exit %d: %s", status, out);
    ck_assert_msg(strstr(out, "handler refscope_hotkey") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "argv ['a', 'b c'] __main__") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "`kill -USR2") != NULL, "%s", out);
    status = run(out, sizeof out, "cd %s && %s %s run --quiet -m probe x", fx.dir, fx.env, CLI);
    ck_assert_msg(status == 7 && strstr(out, "handler None") && strstr(out, "argv ['x'] __main__") &&
                      strstr(out, "`kill") == NULL,
                  "exit %d: %s", status, out);
}
END_TEST

START_TEST(test_trigger_cli_run_errors_read_like_python)
{
    /* Check whether `refscope run` reports a missing module and a script's
     * uncaught exception as python itself does: the same traceback, no
     * frames of refscope's bootstrap or runpy, the same exit status. */
    char out[8192], plain[8192];
    fixture_init();
    int status = run(out, sizeof out, "cd %s && %s %s run --quiet -m no_such_module_rs", fx.dir, fx.env, CLI);
    ck_assert_msg(status == 1, "exit %d: %s", status, out);
    ck_assert_msg(strstr(out, ": No module named no_such_module_rs\n") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "Traceback") == NULL && strstr(out, "<string>") == NULL, "%s", out);
    write_file("boom.py", "def fail():\n    raise ValueError('boom')\nfail()\n");
    status = run(out, sizeof out, "cd %s && %s %s run --quiet boom.py", fx.dir, fx.env, CLI);
    int plain_status = run(plain, sizeof plain, "cd %s && %s %s boom.py", fx.dir, fx.env, RS_PYTHON_EXE);
    ck_assert_int_eq(status, plain_status);
    ck_assert_str_eq(out, plain);
    status = run(out, sizeof out, "cd %s && %s %s run --quiet -m boom", fx.dir, fx.env, CLI);
    ck_assert_int_eq(status, 1);
    ck_assert_msg(strstr(out, "<string>") == NULL && strstr(out, "runpy") == NULL &&
                      strstr(out, "line 2, in fail") != NULL && strstr(out, "ValueError: boom") != NULL,
                  "%s", out);
}
END_TEST

/* --- In terminals ------------------------------------------------------------------ */

/* What the main thread blocks in when the hotkey arrives (see
 * tests/trigger_target.py). */
static const char *const wait_modes[] = {"sleep", "select", "accept", "lock"};

START_TEST(test_trigger_hotkey_while_blocked)
{
    /* Check whether kill -USR1 opens the browser on the program's terminal
     * while its main thread waits in time.sleep/select/accept/a lock (none
     * of which returns by itself), a second signal meanwhile opens nothing
     * more, and after q the program keeps running. */
    char options[64];
    fixture_init();
    if (!terminal_tests_possible())
        return;
    snprintf(options, sizeof options, "--install --wait %s", wait_modes[_i]);
    pid_t pid = start_target(options, PLAIN);
    double start = now();
    kill(pid, SIGUSR1);
    assert_browser_open("target");
    fprintf(stderr, "test_trigger: %s: the browser opened %.2f s after SIGUSR1\n", wait_modes[_i], now() - start);
    kill(pid, SIGUSR1);
    tmux_keys("target", "q");
    ck_assert_msg(wait_alternate("target", 0), "q did not close the browser:\n%s", pane("target"));
    assert_target_alive(pid);
    ck_assert_msg(alternate("target") == 0, "the second SIGUSR1 opened another browser:\n%s", pane("target"));
}
END_TEST

START_TEST(test_trigger_attach_second_terminal)
{
    /* Check whether `refscope attach PID` from another terminal opens the
     * browser there on a program started with `refscope run`, redraws when
     * that terminal is resized, and after q returns with status 0, the
     * terminal restored, the program still running its main thread. */
    fixture_init();
    if (!terminal_tests_possible())
        return;
    pid_t pid = start_target("--wait nap", UNDER_RUN);
    char args[256];
    snprintf(args, sizeof args, "%s attach %ld", CLI, (long)pid);
    start_client("env", args);
    assert_browser_open("client");
    ck_assert_msg(alternate("target") == 0, "the browser opened on the program's own terminal");
    char out[256];
    run(out, sizeof out, "tmux -L %s resize-window -t rs:=client -x 70 -y 22 && "
        "tmux -L %s display -p -t rs:=client '#{pane_width}x#{pane_height}'", fx.tmux, fx.tmux);
    ck_assert_msg(strncmp(out, "70x22", 5) == 0, "the terminal was not resized: %s", out);
    /* Shrunk without a redraw, the screen loses its top or bottom rows. */
    bool redrawn = false;
    for (double end = now() + WAIT; !redrawn && now() < end; pause_briefly()) {
        const char *screen = pane("client");
        const char *last = screen + strlen(screen);
        while (last > screen && last[-1] == '\n')
            last--;
        while (last > screen && last[-1] != '\n')
            last--;
        redrawn = strncmp(screen, " refscope", 9) == 0 && strstr(last, "Quit") != NULL;
    }
    ck_assert_msg(redrawn, "the browser did not redraw at 70x22:\n%s", pane("client"));
    long main_rounds = read_number("main");
    tmux_keys("client", "q");
    ck_assert_msg(wait_pane("client", "client-exit=0"), "attach did not return 0:\n%s", pane("client"));
    ck_assert_msg(wait_pane("client", "modes: icanon echo"), "the terminal was not restored:\n%s", pane("client"));
    ck_assert_int_eq(alternate("client"), 0);
    assert_target_alive(pid);
    ck_assert_msg(wait_number_above("main", main_rounds), "the program's main thread did not go on");
}
END_TEST

START_TEST(test_trigger_attach_background_job)
{
    /* Check whether attaching to a program running in the background of
     * the same terminal (`app &` then `refscope attach $!`) opens the
     * browser instead of getting the program stopped by SIGTTOU, and
     * leaves it running in the background afterwards. */
    char script[4096];
    fixture_init();
    if (!terminal_tests_possible())
        return;
    snprintf(script, sizeof script,
             "set -m\n"
             "%s %s %s %s --install --wait nap >%s/target.out 2>&1 &\n"
             "while [ ! -s %s/ticks ]; do sleep 0.1; done\n"
             "%s attach $!\n"
             "echo \"client-exit=$?\"\n"
             "exec sleep 120\n",
             fx.env, RS_PYTHON_EXE, TARGET, fx.dir, fx.dir, fx.dir, CLI);
    write_file("background.sh", script);
    char command[512];
    snprintf(command, sizeof command, "timeout --foreground 120 sh %s/background.sh", fx.dir);
    tmux_window("client", command);
    assert_browser_open("client");
    pid_t pid = (pid_t)read_number("pid");
    tmux_keys("client", "q");
    ck_assert_msg(wait_pane("client", "client-exit=0"), "attach did not return 0:\n%s", pane("client"));
    assert_target_alive(pid);
    kill(pid, SIGKILL);
}
END_TEST

START_TEST(test_trigger_attach_through_gdb)
{
    /* Check whether attaching to a program that never called install()
     * (and cannot import refscope by itself) starts the listener through
     * gdb, opens the browser, and leaves the program running with its
     * listener, without a traceback on its terminal. */
    char out[256], socket_path[512], dir[256];
    fixture_init();
    if (!terminal_tests_possible())
        return;
    if (run(out, sizeof out, "command -v gdb") != 0) {
        fprintf(stderr, "test_trigger: gdb is not installed; attach through gdb not tested\n");
        return;
    }
    pid_t pid = start_target("--wait sleep", BARE);
    char args[256];
    snprintf(args, sizeof args, "%s attach %ld", CLI, (long)pid);
    start_client("env", args);
    for (double end = now() + WAIT; now() < end && alternate("client") == 0; pause_briefly())
        if (strstr(pane("client"), "ptrace not permitted") != NULL) {
            /* A container without CAP_SYS_PTRACE: the message is the feature. */
            fprintf(stderr, "test_trigger: this system forbids ptrace; attach through gdb not tested:\n%s\n",
                    pane("client"));
            return;
        }
    assert_browser_open("client");
    tmux_keys("client", "q");
    ck_assert_msg(wait_pane("client", "client-exit=0"), "attach did not return 0:\n%s", pane("client"));
    ck_assert_msg(strstr(pane("client"), "starting one with gdb") != NULL, "%s", pane("client"));
    socket_dir(dir, sizeof dir);
    snprintf(socket_path, sizeof socket_path, "%s/%ld.sock", dir, (long)pid);
    ck_assert_msg(access(socket_path, F_OK) == 0, "no listener socket %s after the attach", socket_path);
    assert_target_alive(pid);
    ck_assert_msg(strstr(pane("target"), "Traceback") == NULL, "%s", pane("target"));
}
END_TEST

START_TEST(test_trigger_attach_stuck_main_thread)
{
    /* Check whether attaching to a program whose main thread never gets
     * to run Python code says so after a while instead of hanging, and
     * whether Ctrl-C then gives up, leaving the program unchanged. */
    fixture_init();
    if (!terminal_tests_possible())
        return;
    pid_t pid = start_target("--install --wait blocked", PLAIN);
    char args[256];
    snprintf(args, sizeof args, "%s attach %ld", CLI, (long)pid);
    start_client("env", args);
    ck_assert_msg(wait_pane("client", "has not opened the browser after"), "no word about the wait:\n%s",
                  pane("client"));
    tmux_keys("client", "C-c");
    ck_assert_msg(wait_pane("client", "client-exit=1"), "Ctrl-C did not give up:\n%s", pane("client"));
    ck_assert_msg(strstr(pane("client"), "gave up waiting; PID") != NULL, "%s", pane("client"));
    ck_assert_int_eq(alternate("client"), 0);
    assert_target_alive(pid);
}
END_TEST

START_TEST(test_trigger_report)
{
    /* Check whether `refscope report PID` prints the program's report as
     * text and as JSON, without a terminal and without stopping it. */
    char out[65536];
    fixture_init();
    if (!terminal_tests_possible())
        return;
    pid_t pid = start_target("--install --wait sleep", PLAIN);
    int status = run(out, sizeof out, "%s report %ld", CLI, (long)pid);
    ck_assert_msg(status == 0 && strstr(out, "objects") != NULL, "exit %d: %s", status, out);
    status = run(out, sizeof out,
                 "%s report --json --top 3 %ld | %s -c 'import json, sys; d = json.load(sys.stdin); "
                 "print(\"objects:\", d[\"objects\"] > 10000)'",
                 CLI, (long)pid, RS_PYTHON_EXE);
    ck_assert_msg(status == 0 && strstr(out, "objects: True") != NULL, "exit %d: %s", status, out);
    assert_target_alive(pid);
}
END_TEST

START_TEST(test_trigger_other_user_refused)
{
    /* Check whether a client of another user is refused with a clear
     * message, both by the command (before it touches anything) and by the
     * target itself (SO_PEERCRED, with the directory opened up on purpose),
     * and the target is unaffected. */
    char out[4096], dir[256], socket_path[512], cli_copy[256];
    fixture_init();
    if (!terminal_tests_possible())
        return;
    if (geteuid() != 0) {
        fprintf(stderr, "test_trigger: not root, so another user cannot be played; refusal not tested\n");
        return;
    }
    /* The command where user 65534 can run it. */
    ck_assert_int_eq(chmod(suite_dir, 0711), 0);
    ck_assert_int_eq(chmod(fx.dir, 0755), 0);
    snprintf(cli_copy, sizeof cli_copy, "%s/refscope-cli", fx.dir);
    ck_assert_int_eq(run(out, sizeof out, "cp %s %s && chmod 755 %s", CLI, cli_copy, cli_copy), 0);
    pid_t pid = start_target("--install --wait sleep", PLAIN);
    char args[512];
    snprintf(args, sizeof args, "setpriv --reuid=65534 --regid=65534 --clear-groups %s attach %ld", cli_copy,
             (long)pid);
    start_client("env", args);
    ck_assert_msg(wait_pane("client", "client-exit=1"), "the other user was not refused:\n%s", pane("client"));
    ck_assert_msg(strstr(pane("client"), "refscope attaches only to your own processes") != NULL, "%s",
                  pane("client"));
    ck_assert_int_eq(alternate("target"), 0);

    socket_dir(dir, sizeof dir);
    snprintf(socket_path, sizeof socket_path, "%s/%ld.sock", dir, (long)pid);
    ck_assert_int_eq(chmod(dir, 0711), 0);
    ck_assert_int_eq(chmod(socket_path, 0666), 0);
    int answer[2];
    ck_assert_int_eq(pipe(answer), 0);
    pid_t child = fork();
    if (child == 0) {
        char record[4096] = "";
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        memcpy(addr.sun_path, socket_path, strnlen(socket_path, sizeof addr.sun_path - 1));
        int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
        if (setgroups(0, NULL) == 0 && setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0 &&
            connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
            send(fd, "REFSCOPE1 report text 3", 23, 0) == 23) {
            ssize_t n = recv(fd, record, sizeof record - 1, 0);
            record[n > 0 ? n : 0] = '\0';
        } else {
            snprintf(record, sizeof record, "client failed: %s", strerror(errno));
        }
        ssize_t ignored = write(answer[1], record, strlen(record));
        (void)ignored;
        _exit(0);
    }
    close(answer[1]);
    ssize_t n = read(answer[0], out, sizeof out - 1);
    out[n > 0 ? n : 0] = '\0';
    close(answer[0]);
    waitpid(child, NULL, 0);
    ck_assert_int_eq(chmod(dir, 0700), 0);
    ck_assert_msg(strncmp(out, "error refused:", 14) == 0 && strstr(out, "uid 65534") != NULL, "%s", out);
    assert_target_alive(pid);
    int status = run(out, sizeof out, "%s report %ld", CLI, (long)pid);
    ck_assert_msg(status == 0, "the target stopped answering its own user: %s", out);
}
END_TEST

START_TEST(test_trigger_target_dies_while_attached)
{
    /* Check whether the client, when the target is killed while its
     * browser is open, puts the terminal back, says so, and exits 3. */
    fixture_init();
    if (!terminal_tests_possible())
        return;
    pid_t pid = start_target("--install --wait nap", PLAIN);
    char args[256];
    snprintf(args, sizeof args, "%s attach %ld", CLI, (long)pid);
    start_client("env", args);
    assert_browser_open("client");
    kill(pid, SIGKILL);
    ck_assert_msg(wait_pane("client", "client-exit=3"), "the client did not notice:\n%s", pane("client"));
    ck_assert_msg(strstr(pane("client"), "exited (or crashed) while the browser was open; your terminal has been "
                                         "restored") != NULL,
                  "%s", pane("client"));
    ck_assert_msg(wait_pane("client", "modes: icanon echo"), "the terminal is not restored:\n%s", pane("client"));
    ck_assert_int_eq(alternate("client"), 0);
}
END_TEST

START_TEST(test_trigger_breakpoint_browse)
{
    /* Check whether breakpoint() with PYTHONBREAKPOINT=refscope.browse
     * opens the browser and the program goes on after q. */
    fixture_init();
    if (!terminal_tests_possible())
        return;
    write_file("bp.py", "import os\n"
                        "cache = {'k': list(range(100))}\n"
                        "breakpoint()\n"
                        "print('after-breakpoint', os.getpid(), flush=True)\n");
    char command[2048];
    snprintf(command, sizeof command, "timeout --foreground 120 %s PYTHONBREAKPOINT=refscope.browse %s %s/bp.py; "
             "sleep 120", fx.env, RS_PYTHON_EXE, fx.dir);
    tmux_window("target", command);
    assert_browser_open("target");
    tmux_keys("target", "q");
    ck_assert_msg(wait_pane("target", "after-breakpoint"), "the program did not go on:\n%s", pane("target"));
    ck_assert_int_eq(alternate("target"), 0);
}
END_TEST

START_TEST(test_trigger_run_hotkey_shows_no_refscope)
{
    /* Check whether, under `refscope run`, the browser the hotkey opens
     * shows the program's frames without refscope's bootstrap (<string>,
     * runpy), and no unexplained reference of the hotkey's own call (its
     * handler, its argument tuple holding the frame). */
    fixture_init();
    if (!terminal_tests_possible())
        return;
    pid_t pid = start_target("--wait sleep", UNDER_RUN);
    kill(pid, SIGUSR1);
    assert_browser_open("target");
    tmux_keys("target", "6");
    ck_assert_msg(wait_pane("target", "frame main() trigger_target.py"), "no threads screen:\n%s", pane("target"));
    const char *screen = pane("target");
    ck_assert_msg(strstr(screen, "<string>") == NULL && strstr(screen, "_refscope_run") == NULL &&
                      strstr(screen, "runpy") == NULL,
                  "refscope run's frames show:\n%s", screen);
    tmux_keys("target", "h End"); /* back to the summary, then its end */
    ck_assert_msg(wait_pane("target", "Largest strings"), "no summary end:\n%s", pane("target"));
    screen = pane("target");
    const char *unexplained = strstr(screen, "Unexplained references");
    ck_assert_msg(unexplained != NULL, "no unexplained section:\n%s", screen);
    ck_assert_msg(strstr(unexplained, "refscope") == NULL && strstr(unexplained, "<frame at") == NULL,
                  "refscope's own references show:\n%s", screen);
    tmux_keys("target", "q");
    ck_assert_msg(wait_alternate("target", 0), "q did not close the browser:\n%s", pane("target"));
    assert_target_alive(pid);
}
END_TEST

Suite *suite_trigger(void)
{
    Suite *s = suite_create("trigger");
    TCase *tc = tcase_create("in-process");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
    tcase_add_loop_test(tc, test_trigger_socket_dir_private, 0, (int)(sizeof dir_cases / sizeof dir_cases[0]));
    tcase_add_test(tc, test_trigger_install_twice_uninstall_restores);
    tcase_add_test(tc, test_trigger_stale_socket_removed);
    tcase_add_test(tc, test_trigger_install_errors);
    tcase_add_test(tc, test_trigger_hotkey_without_terminal);
    tcase_add_test(tc, test_trigger_attach_explains_missing_gdb);
    tcase_add_test(tc, test_trigger_cli_usage_and_run);
    tcase_add_test(tc, test_trigger_cli_run_errors_read_like_python);
    suite_add_tcase(s, tc);
    TCase *terminals = tcase_create("terminals");
    tcase_set_timeout(terminals, 150);
    tcase_add_unchecked_fixture(terminals, suite_setup, suite_teardown);
    tcase_add_loop_test(terminals, test_trigger_hotkey_while_blocked, 0,
                        (int)(sizeof wait_modes / sizeof wait_modes[0]));
    tcase_add_test(terminals, test_trigger_attach_second_terminal);
    tcase_add_test(terminals, test_trigger_attach_background_job);
    tcase_add_test(terminals, test_trigger_attach_through_gdb);
    tcase_add_test(terminals, test_trigger_attach_stuck_main_thread);
    tcase_add_test(terminals, test_trigger_report);
    tcase_add_test(terminals, test_trigger_other_user_refused);
    tcase_add_test(terminals, test_trigger_target_dies_while_attached);
    tcase_add_test(terminals, test_trigger_breakpoint_browse);
    tcase_add_test(terminals, test_trigger_run_hotkey_shows_no_refscope);
    suite_add_tcase(s, terminals);
    return s;
}
