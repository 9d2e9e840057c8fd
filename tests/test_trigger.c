/* The ways in from outside the program (src/trigger.c, src/attach.c,
 * src/cli.c): the socket directory and stale sockets, install()/uninstall(),
 * the `refscope` command, and in real terminals (a private tmux server,
 * tmux -L refscope-trig-PID, read back with capture-pane): the hotkey while
 * the main thread blocks, `refscope attach` from a second terminal (with
 * install(), and without it through refscope's ptrace injector, src/inject.c,
 * also with the injector failing or killed at each of its steps),
 * `refscope report`, what the injector refuses, another user refused, the
 * target dying while attached, and breakpoint(),
 * and the hostile cases of tests/hostile/: terminals that hang up, a killed
 * attach client, root attaching to another user, a fork from a thread,
 * silent, flooding and never-reading clients, a symlink trap for root.
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
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "inject.h"
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

/* Waits until the forked child pid runs program, no longer a copy of
 * this test (whose environment and uid it would show). */
static void wait_exec(pid_t pid, const char *program)
{
    char exe[64], program_path[4096], running[4096];
    snprintf(exe, sizeof exe, "/proc/%ld/exe", (long)pid);
    ck_assert(realpath(program, program_path) != NULL);
    for (double end = now() + WAIT; now() < end; pause_briefly()) {
        ssize_t n = readlink(exe, running, sizeof running - 1);
        running[n > 0 ? n : 0] = '\0';
        if (strcmp(running, program_path) == 0)
            return;
    }
    ck_abort_msg("PID %ld did not start %s", (long)pid, program);
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
        fprintf(stderr, "test_trigger: terminal tests skipped under valgrind (they start tmux and Python, and trace them)\n");
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

/* Starts script (with DIR and options) in window "target" with python (a
 * command line that may start with setpriv) and returns the PID it writes
 * to DIR/pid once it is ready. */
static pid_t start_program(const char *python, const char *script, const char *options, start_mode mode)
{
    char command[2048];
    snprintf(command, sizeof command, "timeout --foreground 120 %s %s %s %s %s; sleep 120",
             mode == BARE ? fx.bare : fx.env, mode == UNDER_RUN ? CLI " run --quiet" : python, script, fx.dir,
             options);
    tmux_window("target", command);
    for (double end = now() + WAIT; now() < end; pause_briefly())
        if (read_number("pid") > 0 && read_number("ticks") > 0)
            return (pid_t)read_number("pid");
    ck_abort_msg("the target did not start; its pane shows:\n%s", pane("target"));
    return -1;
}

/* Starts tests/trigger_target.py in window "target" and returns its PID
 * once it is ready. */
static pid_t start_target(const char *options, start_mode mode)
{
    return start_program(RS_PYTHON_EXE, TARGET, options, mode);
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
                            "trap '' INT\n" /* ignored, and so inherited: a late Ctrl-C keeps the window */
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

/* The state letter of /proc/PID/stat, or 0. */
static char process_letter(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p != NULL && p[1] == ' ' ? p[2] : 0;
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
        execl("/bin/sleep", "sleep", "60", (char *)NULL);
        _exit(127);
    }
    wait_exec(sleeper, "/bin/sleep");
    snprintf(orphan, sizeof orphan, "%s/%ld.sock", dir, (long)sleeper);
    make_dead_socket(orphan);
    int status = run(out, sizeof out, "%s report %ld", CLI, (long)sleeper);
    kill(sleeper, SIGKILL);
    waitpid(sleeper, NULL, 0);
    ck_assert_msg(status == 1, "exit %d: %s", status, out);
    ck_assert_msg(strstr(out, "removed") != NULL && access(orphan, F_OK) == -1, "%s", out);
    ck_assert_msg(strstr(out, "is not a CPython program") != NULL, "%s", out);
    status = run(out, sizeof out, "%s attach %ld", CLI, (long)gone);
    ck_assert_msg(status == 1 && strstr(out, "no process with PID") != NULL, "exit %d: %s", status, out);
}
END_TEST

START_TEST(test_trigger_install_errors)
{
    /* Check whether install() refuses what cannot work with refscope.Error
     * saying why (signals that are no safe hotkey, also for `refscope run
     * --signal`; another thread), accepts SIGUSR1/USR2/QUIT and real-time
     * signals, and leaves no handler behind when it fails. */
    fixture_init();
    rs_py_run("import signal, threading, refscope\n"
              "def error_of(fn, *args):\n"
              "    try:\n"
              "        fn(*args)\n"
              "    except refscope.Error as e:\n"
              "        return str(e)\n"
              "    return 'no error'\n"
              "winch = error_of(refscope.install, signal.SIGWINCH)\n"
              "unsafe = [s.name for s in (signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL,\n"
              "          signal.SIGABRT, signal.SIGCHLD, signal.SIGPIPE, signal.SIGTSTP, signal.SIGINT,\n"
              "          signal.SIGTERM, signal.SIGHUP, signal.SIGKILL)\n"
              "          if 'SIGUSR1, SIGUSR2, SIGQUIT or a real-time signal' not in error_of(refscope.install, s)\n"
              "          or getattr(signal.getsignal(s), '__name__', '') == 'refscope_hotkey']\n"
              "def handleable(s):\n"
              "    try:\n"
              "        signal.signal(s, lambda *args: None)\n"
              "    except OSError:\n"
              "        return False\n"
              "    signal.signal(s, signal.SIG_DFL)\n"
              "    return True\n"
              "top = signal.SIGRTMAX if handleable(signal.SIGRTMAX) else signal.SIGRTMAX - 1\n"
              "safe = []\n"
              "for s in (signal.SIGUSR2, signal.SIGQUIT, signal.SIGRTMIN, top, signal.SIGUSR1):\n"
              "    refscope.install(s)\n"
              "    safe.append(getattr(signal.getsignal(s), '__name__', None) == 'refscope_hotkey')\n"
              "refscope.uninstall()\n"
              "box = []\n"
              "t = threading.Thread(target=lambda: box.append(error_of(refscope.install)))\n"
              "t.start(); t.join()\n"
              "from_thread = box[0]\n");
    ck_assert_msg(strstr(rs_py_str("winch"), "SIGWINCH") != NULL, "%s", rs_py_str("winch"));
    ck_assert_msg(strcmp(rs_py_str("unsafe"), "[]") == 0, "accepted or badly refused: %s", rs_py_str("unsafe"));
    ck_assert_str_eq(rs_py_str("safe"), "[True, True, True, True, True]");
    if (rs_py_long("top != signal.SIGRTMAX"))
        printf("test_trigger: no handler can be set for SIGRTMAX here (valgrind keeps it): SIGRTMAX-1 checked\n");
    char dir[256];
    socket_dir(dir, sizeof dir);
    ck_assert_int_eq(rmdir(dir), 0); /* made by the installs above; planted below */
    char out[1024];
    ck_assert_int_eq(run(out, sizeof out, "%s run --signal SEGV x.py", CLI), 2);
    ck_assert_msg(strstr(out, "SIGUSR1, SIGUSR2, SIGQUIT or a real-time signal") != NULL, "%s", out);
    ck_assert_int_eq(run(out, sizeof out, "%s run --signal INT x.py", CLI), 2);
    ck_assert_msg(strstr(rs_py_str("from_thread"), "main thread") != NULL, "%s", rs_py_str("from_thread"));
    if (geteuid() != 0)
        return; /* a directory owned by someone else needs root to make */
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

/* --- The command ------------------------------------------------------------------ */

START_TEST(test_trigger_cli_usage_and_run)
{
    /* Check whether the command answers --help/--version (also as
     * python3 -m refscope), rejects a bad command line with status 2, and
     * whether `run` runs a script and a module with install() done, their
     * arguments, and the program's exit status (a module with the current
     * directory as sys.path[0], as python -m has it), and whether a program's
     * exception shows as Python shows it (no bootstrap or runpy frames) and
     * a module that does not exist is one line, not a traceback, and
     * whether a Python that cannot import refscope (REFSCOPE_PYTHON of
     * another version) is named with what to do; and whether --signal
     * takes the real-time names its refusal suggests (RTMIN+N, RTMAX-N). */
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

    write_file("probe.py", "import os, signal, sys\n"
                           "print('handler', getattr(signal.getsignal(signal.SIGUSR2), '__name__', None))\n"
                           "print('path0 is cwd', sys.path[0] == os.getcwd())\n"
                           "print('argv', sys.argv[1:], __name__)\n"
                           "sys.exit(7)\n");
    int status = run(out, sizeof out, "cd %s && %s %s run --signal USR2 probe.py a 'b c'", fx.dir, fx.env, CLI);
    ck_assert_msg(status == 7, "exit %d: %s", status, out);
    ck_assert_msg(strstr(out, "handler refscope_hotkey") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "argv ['a', 'b c'] __main__") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "`kill -USR2") != NULL, "%s", out);
    status = run(out, sizeof out, "cd %s && %s %s run --quiet -m probe x", fx.dir, fx.env, CLI);
    ck_assert_msg(status == 7 && strstr(out, "handler None") && strstr(out, "argv ['x'] __main__") &&
                      strstr(out, "path0 is cwd True") &&
                      strstr(out, "`kill") == NULL,
                  "exit %d: %s", status, out);

    write_file("boom.py", "def f():\n    raise ValueError('boom here')\nf()\n");
    status = run(out, sizeof out, "cd %s && %s %s run -q boom.py", fx.dir, fx.env, CLI);
    ck_assert_msg(status == 1 && strstr(out, "Traceback (most recent call last):\n  File \"") != NULL &&
                      strstr(out, "boom.py\", line 2, in f") && strstr(out, "ValueError: boom here") &&
                      strstr(out, "<string>") == NULL && strstr(out, "runpy") == NULL,
                  "exit %d: %s", status, out);
    status = run(out, sizeof out, "cd %s && %s %s run -q -m no_such_module_here", fx.dir, fx.env, CLI);
    ck_assert_msg(status == 1 && strstr(out, ": No module named no_such_module_here\n") &&
                      strstr(out, "Traceback") == NULL,
                  "exit %d: %s", status, out);

    write_file("rt.py", "import signal\n"
                        "for s in range(signal.SIGRTMIN, signal.SIGRTMAX + 1):\n"
                        "    if callable(signal.getsignal(s)):\n"
                        "        print('hotkey', s - signal.SIGRTMIN, signal.SIGRTMAX - s)\n");
    status = run(out, sizeof out, "cd %s && %s %s run -q --signal SIGRTMIN+2 rt.py && %s %s run -q -s rtmax-1 rt.py",
                 fx.dir, fx.env, CLI, fx.env, CLI);
    ck_assert_msg(status == 0 && strstr(out, "hotkey 2 ") && strstr(out, " 1\n"), "exit %d: %s", status, out);
    ck_assert_int_eq(run(out, sizeof out, "%s run --signal RTMIN+99 x.py", CLI), 2);

    /* A refscope package that fails to import, as a build for another version does. */
    char broken[600];
    snprintf(broken, sizeof broken, "%s/broken/refscope", fx.dir);
    ck_assert_int_eq(run(NULL, 0, "mkdir -p %s", broken), 0);
    write_file("broken/refscope/__init__.py", "from ._refscope import snapshot\n");
    char python[4096];
    snprintf(python, sizeof python, "#!/bin/sh\nPYTHONPATH=%s/broken exec %s \"$@\"\n", fx.dir, RS_PYTHON_EXE);
    write_file("other-python", python);
    status = run(out, sizeof out, "cd %s && chmod +x other-python && REFSCOPE_PYTHON=%s/other-python %s run -q boom.py",
                 fx.dir, fx.dir, CLI);
    ck_assert_msg(status == 1 && strstr(out, "cannot import refscope (No module named 'refscope._refscope')") &&
                      strstr(out, "set REFSCOPE_PYTHON to that Python") && strstr(out, "Traceback") == NULL,
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

START_TEST(test_trigger_stopped_target)
{
    /* Check whether report and attach refuse a stopped program at once,
     * saying how to resume it, and whether, when the program is stopped
     * after attach connected, a second Ctrl-C leaves without its answer
     * (the first one waits for the program to confirm). */
    char out[4096];
    fixture_init();
    if (!terminal_tests_possible())
        return;
    pid_t pid = start_target("--install --wait blocked", PLAIN);
    ck_assert_int_eq(kill(pid, SIGSTOP), 0);
    /* kill() returns before the program has stopped; on a busy machine
     * the client could still read it as running. */
    for (double end = now() + WAIT; now() < end && process_letter(pid) != 'T'; pause_briefly())
        ;
    int status = run(out, sizeof out, "timeout 60 %s report %ld", CLI, (long)pid);
    ck_assert_msg(status == 1 && strstr(out, "is stopped (Ctrl-Z or SIGSTOP)") && strstr(out, "kill -CONT"),
                  "exit %d: %s", status, out);
    status = run(out, sizeof out, "timeout 60 %s attach %ld", CLI, (long)pid);
    ck_assert_msg(status == 1 && strstr(out, "is stopped (Ctrl-Z or SIGSTOP)"), "exit %d: %s", status, out);
    ck_assert_int_eq(kill(pid, SIGCONT), 0);

    char args[256];
    snprintf(args, sizeof args, "%s attach %ld", CLI, (long)pid);
    start_client("env", args);
    ck_assert_msg(wait_pane("client", "has not opened the browser after"), "no word about the wait:\n%s",
                  pane("client"));
    ck_assert_int_eq(kill(pid, SIGSTOP), 0);
    bool left = false;
    for (double end = now() + WAIT; !left && now() < end; pause_briefly()) {
        tmux_keys("client", "C-c");
        left = strstr(pane("client"), "client-exit=1") != NULL;
    }
    ck_assert_int_eq(kill(pid, SIGCONT), 0);
    ck_assert_msg(left, "Ctrl-C did not give up on a stopped program:\n%s", pane("client"));
    ck_assert_msg(strstr(pane("client"), "gave up without waiting for PID") != NULL, "%s", pane("client"));
    ck_assert_int_eq(alternate("client"), 0);
    assert_target_alive(pid);
}
END_TEST

START_TEST(test_trigger_attach_dumb_terminal)
{
    /* Check whether attach with TERM=dumb says to set TERM or use refscope
     * report, before it starts a listener in a program that has none. */
    fixture_init();
    if (!terminal_tests_possible())
        return;
    pid_t pid = start_target("--wait sleep", PLAIN);
    char args[256];
    snprintf(args, sizeof args, "%s attach %ld", CLI, (long)pid);
    start_client("env TERM=dumb", args);
    ck_assert_msg(wait_pane("client", "client-exit=1"), "attach did not refuse:\n%s", pane("client"));
    const char *screen = pane("client");
    ck_assert_msg(strstr(screen, "TERM is unset, dumb") && strstr(screen, "refscope report") &&
                      strstr(screen, "starting refscope's listener") == NULL,
                  "%s", screen);
    assert_target_alive(pid);
}
END_TEST

START_TEST(test_trigger_report)
{
    /* Check whether `refscope report PID` prints the program's report as
     * text and as JSON, without a terminal and without stopping it, and
     * whether an earlier report left none of its own objects behind (its
     * growth since the program's mark names no code of refscope's). */
    char out[65536];
    fixture_init();
    if (!terminal_tests_possible())
        return;
    pid_t pid = start_target("--install --mark --wait sleep", PLAIN);
    int status = run(out, sizeof out, "%s report %ld", CLI, (long)pid);
    ck_assert_msg(status == 0 && strstr(out, "objects") != NULL, "exit %d: %s", status, out);
    status = run(out, sizeof out, "%s report --top 50 %ld", CLI, (long)pid);
    ck_assert_msg(status == 0 && strstr(out, "Growth since the mark") != NULL, "exit %d: %s", status, out);
    ck_assert_msg(strstr(out, "<string>") == NULL && strstr(out, "code object report") == NULL,
                  "the report shows its own code:\n%.3000s", strstr(out, "Growth since the mark"));
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

/* --- Hostile terminals, clients and programs (tests/hostile/) ---------------------- */

#define HOSTILE RS_SOURCE_DIR "/tests/hostile/"

/* true once pid has exited (gone, or a zombie nobody reaped yet). */
static bool process_gone(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren != NULL && (paren[2] == 'Z' || paren[2] == 'X');
}

static bool wait_gone(pid_t pid)
{
    for (double end = now() + WAIT; now() < end; pause_briefly())
        if (process_gone(pid))
            return true;
    return false;
}

static bool wait_file(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", fx.dir, name);
    for (double end = now() + WAIT; now() < end; pause_briefly())
        if (access(path, F_OK) == 0)
            return true;
    return false;
}

/* The terminal device of a tmux window's pane ("/dev/pts/N"). */
static void pane_tty(const char *window, char *buf, size_t len)
{
    run(buf, len, "tmux -L %s display -p -t rs:=%s '#{pane_tty}'", fx.tmux, window);
    buf[strcspn(buf, "\n")] = '\0';
}

/* Every terminal pid holds open, as "/dev/pts/N /dev/tty ", deduplicated
 * (a descriptor opened as /dev/tty shows as that, whatever it is). */
static void terminals_held(pid_t pid, char *buf, size_t len)
{
    run(buf, len,
        "for f in /proc/%ld/fd/*; do readlink $f; done | grep -e '^/dev/pts/' -e '^/dev/tty' | sort -u | "
        "tr '\\n' ' '",
        (long)pid);
}

/* Asserts that the target, with the browser of `refscope attach` open in
 * window "client", holds its own terminal and the relay's pseudo-terminal,
 * and nothing of the client's terminal (neither its device nor a
 * /dev/tty). */
static void assert_holds_relay_only(pid_t pid)
{
    char client_tty[64], target_tty[64], held[1024], client[80], own[80];
    pane_tty("client", client_tty, sizeof client_tty);
    pane_tty("target", target_tty, sizeof target_tty);
    ck_assert_msg(strncmp(client_tty, "/dev/pts/", 9) == 0, "client tty: %s", client_tty);
    terminals_held(pid, held, sizeof held);
    snprintf(client, sizeof client, "%s ", client_tty);
    snprintf(own, sizeof own, "%s ", target_tty);
    ck_assert_msg(strstr(held, client) == NULL && strstr(held, "/dev/tty") == NULL,
                  "the target holds the client's terminal (%s): %s", client_tty, held);
    ck_assert_msg(strstr(held, own) != NULL && strlen(held) > strlen(own),
                  "the target holds no relay terminal: %s (own %s)", held, target_tty);
}

/* The PID of the `refscope attach PID` command running for target, 0 when
 * none shows up. */
static pid_t attach_client_pid(pid_t target)
{
    char out[256];
    for (double end = now() + WAIT; now() < end; pause_briefly()) {
        run(out, sizeof out,
            "for d in /proc/[0-9]*; do c=$(tr '\\0' ' ' < $d/cmdline 2>/dev/null); "
            "[ \"$c\" = \"%s attach %ld \" ] && echo ${d#/proc/}; done | head -1",
            CLI, (long)target);
        if (atol(out) > 0)
            return (pid_t)atol(out);
    }
    return 0;
}

/* Runs `refscope attach PID` in window "client" and waits for the browser there. */
static void start_attach(pid_t pid)
{
    char args[256];
    snprintf(args, sizeof args, "%s attach %ld", CLI, (long)pid);
    start_client("env", args);
    assert_browser_open("client");
}

/* SIGHUP ignored, or handled by a Python function. */
static const char *const hangup_modes[] = {"ignore", "python"};

START_TEST(test_trigger_hangup_ends_browser)
{
    /* Check whether a browser whose terminal goes away (its tmux window
     * killed) in a program that survives SIGHUP ends, and the program goes
     * on past browse() and finishes instead of spinning on the dead
     * terminal. */
    char command[2048], after[256] = "";
    fixture_init();
    if (!terminal_tests_possible())
        return;
    tmux_window("keep", "sleep 120"); /* the server outlives the window */
    snprintf(command, sizeof command, "timeout --foreground 120 %s %s %shangup_browse.py %s %s; sleep 120", fx.env,
             RS_PYTHON_EXE, HOSTILE, fx.dir, hangup_modes[_i]);
    tmux_window("target", command);
    assert_browser_open("target");
    pid_t pid = (pid_t)read_number("pid");
    ck_assert_int_gt(pid, 0);
    char out[256];
    ck_assert_int_eq(run(out, sizeof out, "tmux -L %s kill-window -t rs:=target", fx.tmux), 0);
    ck_assert_msg(wait_file("after"), "browse() did not return after the hang-up (SIGHUP %s)", hangup_modes[_i]);
    ck_assert_msg(wait_gone(pid), "the program did not finish after browse() returned");
    char path[256];
    snprintf(path, sizeof path, "%s/after", fx.dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(after, sizeof after, f));
    fclose(f);
    ck_assert_msg(strcmp(after, "returned") == 0, "browse() ended with: %s", after);
}
END_TEST

/* How the attach client goes away: killed outright, or its terminal
 * closed (its tmux window killed: a hang-up, then EIO). */
static const char *const client_ends[] = {"kill -9", "terminal closed"};

START_TEST(test_trigger_attach_passes_pty_and_survives_client)
{
    /* Check whether the target of `refscope attach` holds a pseudo-terminal
     * of the client's and never the client's own terminal, and whether the
     * client going away (kill -9, or its terminal closed) closes the
     * target's browser (a hang-up on that pseudo-terminal) so the
     * program's main thread goes on. */
    fixture_init();
    if (!terminal_tests_possible())
        return;
    pid_t pid = start_target("--install --wait nap", PLAIN);
    start_attach(pid);
    assert_holds_relay_only(pid);
    long main_rounds = read_number("main");
    pid_t client = attach_client_pid(pid);
    ck_assert_msg(client > 0, "no attach client found");
    if (_i == 0) {
        ck_assert_int_eq(kill(client, SIGKILL), 0);
        ck_assert_msg(wait_pane("client", "client-exit=137"), "the client did not die:\n%s", pane("client"));
    } else {
        char out[256];
        ck_assert_int_eq(run(out, sizeof out, "tmux -L %s kill-window -t rs:=client", fx.tmux), 0);
        ck_assert_msg(wait_gone(client), "the client outlived its terminal");
    }
    ck_assert_msg(wait_number_above("main", main_rounds + 1),
                  "the target's main thread did not go on after its client went away (%s): the browser stayed open",
                  client_ends[_i]);
    assert_target_alive(pid);
    char target_tty[64], held[1024], own[80];
    pane_tty("target", target_tty, sizeof target_tty);
    snprintf(own, sizeof own, "%s ", target_tty);
    terminals_held(pid, held, sizeof held);
    ck_assert_msg(strcmp(held, own) == 0, "the target still holds %s (own terminal %s)", held, target_tty);
}
END_TEST

/* A Python of the module's version that user 65534 may run (the build's own
 * may sit in root's home), or NULL after saying there is none. */
static const char *python_for_nobody(void)
{
    static const char *const candidates[] = {RS_PYTHON_EXE, "/usr/bin/python3"};
    static const char version[] = "-c 'import sys; print(sys.version_info[:2])'";
    char want[64], got[256];
    run(want, sizeof want, "%s %s", RS_PYTHON_EXE, version);
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
        if (run(got, sizeof got, "setpriv --reuid=65534 --regid=65534 --clear-groups %s %s", candidates[i],
                version) == 0 &&
            strcmp(got, want) == 0)
            return candidates[i];
    fprintf(stderr, "test_trigger: no Python %s that uid 65534 may run; other-user attach not tested\n", want);
    return NULL;
}

START_TEST(test_trigger_attach_ctrl_z_suspends_client)
{
    /* Check whether Ctrl-Z in an attached browser suspends the `refscope
     * attach` job of an interactive shell (the shell says it stopped and
     * takes commands), the program goes on meanwhile, and `fg` brings the
     * browser back, answering keys. */
    fixture_init();
    if (!terminal_tests_possible())
        return;
    pid_t pid = start_target("--install --wait nap", PLAIN);
    char command[512];
    snprintf(command, sizeof command, "timeout --foreground 120 env TMPDIR=%s PS1='rs$ ' sh -i", fx.dir);
    tmux_window("client", command);
    ck_assert_msg(wait_pane("client", "rs$"), "no shell prompt:\n%s", pane("client"));
    char line[512];
    snprintf(line, sizeof line, "'%s attach %ld; echo client-exit=$?' Enter", CLI, (long)pid);
    tmux_keys("client", line);
    assert_browser_open("client");
    tmux_keys("client", "C-z");
    ck_assert_msg(wait_pane("client", "Stopped") && wait_alternate("client", 0),
                  "Ctrl-Z did not suspend the client:\n%s", pane("client"));
    assert_target_alive(pid);
    tmux_keys("client", "'echo shell$((40+2))' Enter");
    ck_assert_msg(wait_pane("client", "shell42"), "the shell did not take a command:\n%s", pane("client"));
    tmux_keys("client", "fg Enter");
    assert_browser_open("client");
    tmux_keys("client", "2");
    ck_assert_msg(wait_pane("client", "types"), "the browser did not answer after fg:\n%s", pane("client"));
    tmux_keys("client", "q q");
    ck_assert_msg(wait_alternate("client", 0), "q did not close the browser:\n%s", pane("client"));
    assert_target_alive(pid);
}
END_TEST

START_TEST(test_trigger_attach_other_user_gets_no_root_terminal)
{
    /* Check whether root attaching to a process of another user hands it
     * no terminal of root's: the target holds only its own terminal and the
     * relay's pseudo-terminal while the browser is open, and q returns. */
    fixture_init();
    if (!terminal_tests_possible())
        return;
    if (geteuid() != 0) {
        fprintf(stderr, "test_trigger: not root, so another user cannot be played; root's terminal not tested\n");
        return;
    }
    ck_assert_int_eq(chmod(suite_dir, 0711), 0);
    ck_assert_int_eq(chmod(fx.dir, 0777), 0);
    const char *python = python_for_nobody();
    if (python == NULL)
        return;
    char wrapper[512];
    snprintf(wrapper, sizeof wrapper, "setpriv --reuid=65534 --regid=65534 --clear-groups %s", python);
    pid_t pid = start_program(wrapper, TARGET, "--install --wait nap", PLAIN);
    start_attach(pid);
    assert_holds_relay_only(pid);
    tmux_keys("client", "q");
    ck_assert_msg(wait_pane("client", "client-exit=0"), "attach did not return 0:\n%s", pane("client"));
    ck_assert_msg(wait_pane("client", "modes: icanon echo"), "the terminal was not restored:\n%s", pane("client"));
    assert_target_alive(pid);
}
END_TEST

START_TEST(test_trigger_attach_after_fork_from_thread)
{
    /* Check whether a child forked from a thread of a program with refscope
     * installed, calling install() itself, opens the browser on attach
     * (its own main thread is woken, not the parent's). */
    fixture_init();
    if (!terminal_tests_possible())
        return;
    pid_t pid = start_program(RS_PYTHON_EXE, HOSTILE "fork_from_thread.py", "", PLAIN);
    start_attach(pid);
    tmux_keys("client", "q");
    ck_assert_msg(wait_pane("client", "client-exit=0"), "attach did not return 0:\n%s", pane("client"));
    assert_target_alive(pid);
}
END_TEST

START_TEST(test_trigger_listener_survives_hostile_clients)
{
    /* Check whether the owner's report arrives while 200 silent clients
     * flood the listener and 4 others asked for a 5 MB report they never
     * read, and whether the program then exits normally (its atexit joins
     * the listener). */
    char out[65536], dir[256], socket_path[512];
    fixture_init();
    if (!terminal_tests_possible())
        return;
    pid_t pid = start_target("--install --wait nap", PLAIN);
    double start = now();
    ck_assert_int_eq(run(out, sizeof out, "timeout 60 %s report %ld", CLI, (long)pid), 0);
    double quiet = now() - start;
    socket_dir(dir, sizeof dir);
    snprintf(socket_path, sizeof socket_path, "%s/%ld.sock", dir, (long)pid);
    char command[1024];
    snprintf(command, sizeof command, "exec %s %sflood_clients.py %s 200 4", RS_PYTHON_EXE, HOSTILE, socket_path);
    int to_flood[2];
    ck_assert_int_eq(pipe(to_flood), 0);
    int ready_pipe[2];
    ck_assert_int_eq(pipe(ready_pipe), 0);
    pid_t flood = fork();
    if (flood == 0) {
        dup2(to_flood[0], STDIN_FILENO);
        dup2(ready_pipe[1], STDOUT_FILENO);
        close(to_flood[1]);
        close(ready_pipe[0]);
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    close(to_flood[0]);
    close(ready_pipe[1]);
    char ready[64] = "";
    ssize_t n = read(ready_pipe[0], ready, sizeof ready - 1);
    ready[n > 0 ? n : 0] = '\0';
    ck_assert_msg(strncmp(ready, "ready", 5) == 0, "the hostile clients did not connect: %s", ready);
    start = now();
    int status = run(out, sizeof out, "timeout 60 %s report %ld", CLI, (long)pid);
    double flooded = now() - start;
    ready[strcspn(ready, "\n")] = '\0';
    fprintf(stderr, "test_trigger: the report took %.2f s alone, %.2f s with hostile clients (%s connected)\n",
            quiet, flooded, ready);
    ck_assert_msg(status == 0 && strstr(out, "objects") != NULL, "no report during the flood (exit %d): %.2000s",
                  status, out);
    ck_assert_msg(flooded < WAIT, "the report took %.1f s during the flood", flooded);
    write_file("exit", "");
    ck_assert_msg(wait_gone(pid), "the program did not exit while hostile clients were connected");
    close(to_flood[1]);
    close(ready_pipe[0]);
    waitpid(flood, NULL, 0);
}
END_TEST

START_TEST(test_trigger_client_unlinks_nothing_of_root)
{
    /* Check whether the client, as root, leaves alone a socket of root's
     * that a process of another user points at through its TMPDIR (a
     * symlink to a root-only directory), instead of removing it as stale. */
    char out[4096], evil[256], root_only[256], link_path[300], planted[320];
    fixture_init();
    if (geteuid() != 0) {
        fprintf(stderr, "test_trigger: not root, so another user cannot be played; symlink trap not tested\n");
        return;
    }
    snprintf(evil, sizeof evil, "%s/evil", fx.dir);
    snprintf(root_only, sizeof root_only, "%s/root-only", fx.dir);
    ck_assert_int_eq(mkdir(evil, 0777), 0);
    ck_assert_int_eq(mkdir(root_only, 0700), 0);
    snprintf(link_path, sizeof link_path, "%s/refscope-65534", evil);
    ck_assert_int_eq(symlink(root_only, link_path), 0);
    /* Any program will do: the client reads its environment first. */
    pid_t target = fork();
    if (target == 0) {
        setenv("TMPDIR", evil, 1);
        if (setgroups(0, NULL) == 0 && setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0)
            execl("/bin/sleep", "sleep", "60", (char *)NULL);
        _exit(127);
    }
    wait_exec(target, "/bin/sleep");
    snprintf(planted, sizeof planted, "%s/%ld.sock", root_only, (long)target);
    make_dead_socket(planted);
    /* The target is no Python: the client stops after looking for the socket. */
    int status = run(out, sizeof out, "%s report %ld", CLI, (long)target);
    bool kept = access(planted, F_OK) == 0;
    kill(target, SIGKILL);
    waitpid(target, NULL, 0);
    ck_assert_msg(kept, "root's socket %s was removed through the symlink (exit %d): %s", planted, status, out);
    ck_assert_msg(strstr(out, "removed") == NULL, "%s", out);
}
END_TEST

/* --- The ptrace injector (no install() in the target) ----------------------------- */

/* How long each blocking call of an injected target lasts (--period). */
#define PERIOD 3

/* true, after saying so, when out says this system forbids ptrace: the
 * injector cannot be tested here (a container without CAP_SYS_PTRACE,
 * kernel.yama.ptrace_scope 3). */
static bool ptrace_forbidden(const char *out)
{
    if (strstr(out, "does not let refscope trace") == NULL)
        return false;
    fprintf(stderr, "test_trigger: this system forbids ptrace, so the injector is not tested here: %s\n", out);
    return true;
}

/* Checks that nothing traces or stops pid any more. */
static void assert_untraced(pid_t pid)
{
    char path[64], line[256];
    long tracer = -1;
    char state = 0;
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "PID %ld is gone", (long)pid);
    while (fgets(line, sizeof line, f) != NULL) {
        sscanf(line, "TracerPid: %ld", &tracer);
        sscanf(line, "State: %c", &state);
    }
    fclose(f);
    ck_assert_msg(tracer == 0, "PID %ld is still traced by %ld", (long)pid, tracer);
    ck_assert_msg(state != 'T' && state != 't' && state != 'Z', "PID %ld is in state %c", (long)pid, state);
}

/* Waits for one more blocking call of the target to return, then checks
 * that every call returned what it should and none before its time: an
 * interrupted call was restarted or retried, not cut short. */
static void assert_calls_complete(double period)
{
    long rounds = read_number("main");
    ck_assert_msg(wait_number_above("main", rounds), "the main thread's call did not return:\n%s", pane("target"));
    char path[256];
    double shortest = -1;
    int ok = -1;
    snprintf(path, sizeof path, "%s/calls", fx.dir);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL && fscanf(f, "%lf %d", &shortest, &ok) == 2, "no %s", path);
    fclose(f);
    ck_assert_msg(ok == 1, "a call of the main thread returned something wrong:\n%s", pane("target"));
    ck_assert_msg(shortest >= period * 0.99, "a call returned after %.3f s instead of %.1f s", shortest, period);
}

/* What the main thread does while refscope attaches (tests/trigger_target.py). */
static const char *const inject_modes[] = {"sleep", "select", "accept", "lock", "timedlock", "poll", "busy"};

START_TEST(test_trigger_attach_injected)
{
    /* Check whether `refscope attach PID` on a program that never called
     * install() (and cannot import refscope by itself) starts the listener
     * with the ptrace injector while the main thread waits in sleep,
     * select, accept, a lock, a lock or poll with a timeout (restarted
     * through the restart block: made EINTR), or runs a Python loop; says
     * so and how long it took; opens the browser; and after q leaves the
     * program running untraced, its interrupted call completing normally. */
    char options[64], args[256];
    fixture_init();
    if (!terminal_tests_possible())
        return;
    snprintf(options, sizeof options, "--wait %s --period %d", inject_modes[_i], PERIOD);
    pid_t pid = start_target(options, BARE);
    snprintf(args, sizeof args, "%s attach %ld", CLI, (long)pid);
    start_client("env", args);
    for (double end = now() + WAIT; now() < end && alternate("client") == 0; pause_briefly())
        if (ptrace_forbidden(pane("client")))
            return;
    assert_browser_open("client");
    tmux_keys("client", "q");
    ck_assert_msg(wait_pane("client", "client-exit=0"), "attach did not return 0:\n%s", pane("client"));
    const char *screen = pane("client");
    ck_assert_msg(strstr(screen, "starting refscope's listener in PID") && strstr(screen, "(ptrace)") &&
                      strstr(screen, "started refscope's listener in PID"),
                  "%s", screen);
    bool blocking = strcmp(inject_modes[_i], "busy") != 0;
    ck_assert_msg(strstr(screen, blocking ? "its main thread was blocked in" : "its main thread was running"),
                  "the injector did not take the %s way:\n%s", blocking ? "direct" : "pending-call", screen);
    assert_target_alive(pid);
    assert_calls_complete(PERIOD);
    assert_untraced(pid);
    ck_assert_msg(strstr(pane("target"), "Traceback") == NULL, "%s", pane("target"));
}
END_TEST

START_TEST(test_trigger_report_twice_injected)
{
    /* Check whether `refscope report PID` twice in a row on a program
     * without install() works both times (the first starts the listener,
     * the second finds it) and the program keeps running. */
    static char out[65536];
    fixture_init();
    if (!terminal_tests_possible())
        return;
    pid_t pid = start_target("--wait sleep --period 3", BARE);
    int status = run(out, sizeof out, "%s report --top 3 %ld", CLI, (long)pid);
    if (ptrace_forbidden(out))
        return;
    ck_assert_msg(status == 0 && strstr(out, "objects") && strstr(out, "starting refscope's listener"), "exit %d: %s",
                  status, out);
    status = run(out, sizeof out, "%s report --top 3 %ld", CLI, (long)pid);
    ck_assert_msg(status == 0 && strstr(out, "objects") && !strstr(out, "starting refscope's listener"),
                  "exit %d: %s", status, out);
    assert_target_alive(pid);
    assert_calls_complete(3);
    assert_untraced(pid);
}
END_TEST

/* Forks program with its arguments and waits until it sleeps (has started). */
static pid_t start_sleeper(const char *program, const char *arg1, const char *arg2)
{
    pid_t child = fork();
    if (child == 0) {
        execl(program, program, arg1, arg2, (char *)NULL);
        _exit(127);
    }
    ck_assert_int_gt(child, 0);
    char path[64], exe[4096], wanted[4096], line[256];
    snprintf(path, sizeof path, "/proc/%ld/exe", (long)child);
    ck_assert(realpath(program, wanted) != NULL);
    for (double end = now() + WAIT; now() < end; pause_briefly()) {
        ssize_t n = readlink(path, exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
        snprintf(line, sizeof line, "/proc/%ld/wchan", (long)child);
        FILE *f = fopen(line, "r");
        char wchan[64] = "";
        if (f != NULL) {
            if (fgets(wchan, sizeof wchan, f) == NULL)
                wchan[0] = '\0';
            fclose(f);
        }
        if (strcmp(exe, wanted) == 0 && wchan[0] != '\0' && strcmp(wchan, "0") != 0)
            return child;
    }
    ck_abort_msg("%s did not start", program);
    return -1;
}

static void stop_sleeper(pid_t child)
{
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
}

START_TEST(test_trigger_inject_refusals)
{
    /* Check whether the injector refuses, with a sentence that says why and
     * what to do and without touching the process: a program that is no
     * CPython, a CPython of another version than refscope's, a stopped
     * process, and one that something else traces. */
    char out[8192], version[32], other[4096] = "", other_version[32] = "";
    fixture_init();
    pid_t child = start_sleeper("/bin/sleep", "60", NULL);
    int status = run(out, sizeof out, "%s report %ld", CLI, (long)child);
    ck_assert_msg(status == 1 && strstr(out, "is not a CPython program"), "exit %d: %s", status, out);
    assert_untraced(child);
    stop_sleeper(child);

    ck_assert_int_eq(run(version, sizeof version, "%s -c 'import sys; print(\"%%d.%%d\" %% sys.version_info[:2])'",
                         RS_PYTHON_EXE), 0);
    version[strcspn(version, "\n")] = '\0';
    static const char *const candidates[] = {"3.12.1", "3.13.0", "3.11.7"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0] && other[0] == '\0'; i++) {
        snprintf(other_version, sizeof other_version, "%.4s", candidates[i]);
        if (strcmp(other_version, version) == 0)
            continue;
        if (run(other, sizeof other, "p=\"$(pyenv prefix %s 2>/dev/null)/bin/python%s\" && test -x \"$p\" && "
                "printf %%s \"$p\"", candidates[i], other_version) != 0)
            other[0] = '\0';
    }
    if (other[0] == '\0') {
        fprintf(stderr, "test_trigger: no pyenv Python of another version than %s; that refusal not tested\n",
                version);
    } else {
        child = start_sleeper(other, "-c", "import time; time.sleep(60)");
        status = run(out, sizeof out, "%s report %ld", CLI, (long)child);
        char runs[64], make[64];
        snprintf(runs, sizeof runs, "runs Python %s", other_version);
        snprintf(make, sizeof make, "make PYTHON=python%s", other_version);
        ck_assert_msg(status == 1 && strstr(out, runs) && strstr(out, make), "exit %d: %s", status, out);
        assert_untraced(child);
        stop_sleeper(child);
    }

    child = start_sleeper(RS_PYTHON_EXE, "-c", "import time; time.sleep(60)");
    kill(child, SIGSTOP);
    for (double end = now() + WAIT; now() < end && process_letter(child) != 'T'; pause_briefly())
        ;
    status = run(out, sizeof out, "%s report %ld", CLI, (long)child);
    ck_assert_msg(status == 1 && strstr(out, "is stopped") && strstr(out, "kill -CONT"), "exit %d: %s", status, out);
    kill(child, SIGCONT);
    if (ptrace(PTRACE_SEIZE, child, NULL, NULL) < 0) {
        fprintf(stderr, "test_trigger: cannot trace a child here (%s); the refusal of traced processes not tested\n",
                strerror(errno));
    } else {
        status = run(out, sizeof out, "%s report %ld", CLI, (long)child);
        char by[64];
        snprintf(by, sizeof by, "already being traced by PID %ld", (long)getpid());
        ck_assert_msg(status == 1 && strstr(out, by), "exit %d: %s", status, out);
    }
    ck_assert_int_eq(kill(child, 0), 0);
    stop_sleeper(child);
}
END_TEST

START_TEST(test_trigger_inject_other_user_refused)
{
    /* Check whether attaching to a Python program of another user, which
     * never called install(), is refused before anything touches it. */
    char out[4096], cli_copy[256];
    fixture_init();
    if (geteuid() != 0) {
        fprintf(stderr, "test_trigger: not root, so other users cannot be played; that refusal not tested\n");
        return;
    }
    const char *python = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "/bin/sleep";
    ck_assert_int_eq(chmod(suite_dir, 0711), 0);
    ck_assert_int_eq(chmod(fx.dir, 0755), 0);
    snprintf(cli_copy, sizeof cli_copy, "%s/refscope-cli", fx.dir);
    ck_assert_int_eq(run(out, sizeof out, "cp %s %s && chmod 755 %s", CLI, cli_copy, cli_copy), 0);
    pid_t child = fork();
    if (child == 0) {
        if (setgroups(0, NULL) == 0 && setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0)
            execl(python, python, "-c", "import time; time.sleep(60)", (char *)NULL);
        _exit(127);
    }
    for (double end = now() + WAIT; now() < end; pause_briefly()) {
        char path[64], exe[4096] = "";
        snprintf(path, sizeof path, "/proc/%ld/exe", (long)child);
        if (readlink(path, exe, sizeof exe - 1) > 0 && strstr(exe, "python") != NULL)
            break;
    }
    static const char *const commands[] = {"attach", "report"};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        int status = run(out, sizeof out, "setpriv --reuid=1 --regid=1 --clear-groups %s %s %ld </dev/null", cli_copy,
                         commands[i], (long)child);
        ck_assert_msg(status == 1 && strstr(out, "refscope attaches only to your own processes"), "%s: exit %d: %s",
                      commands[i], status, out);
    }
    assert_untraced(child);
    ck_assert_int_eq(kill(child, 0), 0);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
}
END_TEST

START_TEST(test_trigger_inject_gil_never_comes)
{
    /* Check whether the injector, when the main thread waits in sleep but
     * another thread holds the GIL for longer than the injector waits,
     * gives up with a sentence saying so and leaves the program running
     * untraced, and whether its call then completes by itself when the GIL
     * comes: the listener is there afterwards without another injection. */
    static char out[65536];
    fixture_init();
    if (!terminal_tests_possible())
        return;
    pid_t pid = start_target("--wait sleep --hog 14", BARE);
    for (double end = now() + WAIT; now() < end && read_number("hog") < 0; pause_briefly())
        ;
    ck_assert_msg(read_number("hog") == 1, "the target did not take the GIL:\n%s", pane("target"));
    int status = run(out, sizeof out, "%s report %ld", CLI, (long)pid);
    if (ptrace_forbidden(out))
        return;
    ck_assert_msg(status == 1 && strstr(out, "did not get the GIL within") && strstr(out, "was left running"),
                  "exit %d: %s", status, out);
    assert_untraced(pid);
    assert_target_alive(pid);
    status = run(out, sizeof out, "%s report --top 3 %ld", CLI, (long)pid);
    ck_assert_msg(status == 0 && strstr(out, "objects") && !strstr(out, "starting refscope's listener"),
                  "exit %d: %s", status, out);
    assert_untraced(pid);
}
END_TEST

/* How the injector is made to fail at a step, and what the program does
 * then: SIGKILLed while the main thread sleeps (the direct way) or runs
 * Python (the pending call), or failing while it runs Python. */
static const struct {
    const char *how;
    const char *options;
} step_cases[] = {
    {"KILL", "--wait sleep --period 2"},
    {"FAIL", "--wait busy --period 2"},
    {"KILL", "--wait busy --period 2"},
};

START_TEST(test_trigger_inject_step_fails_or_dies)
{
    /* Check whether, when the injector fails at one of its steps (through
     * REFSCOPE_INJECT_FAIL_AT) or is SIGKILLed there (_KILL_AT), the
     * program is left untraced and running, its calls complete normally,
     * and a later `refscope report` works. */
    static char out[65536];
    size_t n_cases = sizeof step_cases / sizeof step_cases[0];
    const char *step = rs_inject_steps[(size_t)_i / n_cases];
    const char *how = step_cases[(size_t)_i % n_cases].how;
    bool killed = strcmp(how, "KILL") == 0;
    /* From "stop" on, the injector holds the process when it fails. */
    bool attached = strcmp(step, "check") != 0 && strcmp(step, "seize") != 0;
    fixture_init();
    if (!terminal_tests_possible())
        return;
    pid_t pid = start_target(step_cases[(size_t)_i % n_cases].options, BARE);
    int status = run(out, sizeof out, "env REFSCOPE_INJECT_%s_AT=%s %s report %ld", how, step, CLI, (long)pid);
    if (ptrace_forbidden(out))
        return;
    if (killed)
        ck_assert_msg(status == 128 + SIGKILL, "the injector was not killed at %s: exit %d: %s", step, status, out);
    else
        ck_assert_msg(status == 1 && strstr(out, "on purpose") &&
                          (!attached || strstr(out, "was left running") != NULL),
                      "exit %d: %s", status, out);
    assert_untraced(pid);
    assert_target_alive(pid);
    status = run(out, sizeof out, "%s report --top 3 %ld", CLI, (long)pid);
    ck_assert_msg(status == 0 && strstr(out, "objects"), "after the injector %s at %s, report: exit %d: %s",
                  killed ? "died" : "failed", step, status, out);
    assert_calls_complete(2);
    assert_untraced(pid);
    ck_assert_msg(strstr(pane("target"), "Traceback") == NULL, "%s", pane("target"));
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
    tcase_add_test(tc, test_trigger_cli_usage_and_run);
    tcase_add_test(tc, test_trigger_client_unlinks_nothing_of_root);
    tcase_add_test(tc, test_trigger_cli_run_errors_read_like_python);
    suite_add_tcase(s, tc);
    TCase *terminals = tcase_create("terminals");
    tcase_set_timeout(terminals, 150);
    tcase_add_unchecked_fixture(terminals, suite_setup, suite_teardown);
    tcase_add_loop_test(terminals, test_trigger_hotkey_while_blocked, 0,
                        (int)(sizeof wait_modes / sizeof wait_modes[0]));
    tcase_add_test(terminals, test_trigger_attach_second_terminal);
    tcase_add_test(terminals, test_trigger_attach_background_job);
    tcase_add_test(terminals, test_trigger_attach_stuck_main_thread);
    tcase_add_test(terminals, test_trigger_report);
    tcase_add_test(terminals, test_trigger_stopped_target);
    tcase_add_test(terminals, test_trigger_attach_dumb_terminal);
    tcase_add_test(terminals, test_trigger_other_user_refused);
    tcase_add_test(terminals, test_trigger_target_dies_while_attached);
    tcase_add_test(terminals, test_trigger_breakpoint_browse);
    tcase_add_test(terminals, test_trigger_run_hotkey_shows_no_refscope);
    tcase_add_loop_test(terminals, test_trigger_hangup_ends_browser, 0,
                        (int)(sizeof hangup_modes / sizeof hangup_modes[0]));
    tcase_add_loop_test(terminals, test_trigger_attach_passes_pty_and_survives_client, 0,
                        (int)(sizeof client_ends / sizeof client_ends[0]));
    tcase_add_test(terminals, test_trigger_attach_ctrl_z_suspends_client);
    tcase_add_test(terminals, test_trigger_attach_other_user_gets_no_root_terminal);
    tcase_add_test(terminals, test_trigger_attach_after_fork_from_thread);
    tcase_add_test(terminals, test_trigger_listener_survives_hostile_clients);
    suite_add_tcase(s, terminals);
    TCase *injector = tcase_create("injector");
    tcase_set_timeout(injector, 150);
    tcase_add_unchecked_fixture(injector, suite_setup, suite_teardown);
    tcase_add_loop_test(injector, test_trigger_attach_injected, 0, (int)(sizeof inject_modes / sizeof inject_modes[0]));
    tcase_add_test(injector, test_trigger_report_twice_injected);
    tcase_add_test(injector, test_trigger_inject_refusals);
    tcase_add_test(injector, test_trigger_inject_other_user_refused);
    tcase_add_test(injector, test_trigger_inject_gil_never_comes);
    int steps = 0;
    while (rs_inject_steps[steps] != NULL)
        steps++;
    tcase_add_loop_test(injector, test_trigger_inject_step_fails_or_dies, 0,
                        steps * (int)(sizeof step_cases / sizeof step_cases[0]));
    suite_add_tcase(s, injector);
    return s;
}
