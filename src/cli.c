/*
 * The `refscope` command (not part of the module):
 *
 *   refscope run [--signal SIG] [--quiet] script.py [args]   (or -m module)
 *   refscope attach PID
 *   refscope report [--json] [--top N] (PID | FILE)
 *   refscope dump PID -o FILE
 *   refscope open [--diff OLD] FILE
 *   refscope diff [--json] [--top N] OLD NEW
 *
 * `run` execs Python with a bootstrap that calls refscope.install() and
 * then runs the program, so the program keeps the PID.  `attach` and
 * `report` talk to the listener that install() started in the target (see
 * attach.h); when there is none, they start one with refscope's own
 * ptrace injector (inject.h).  For
 * `attach`, this process never hands out its terminal: it passes the
 * target the slave side of a pseudo-terminal of its own and relays keys
 * and screen (see "The relay"), forwards window resizes, suspends itself
 * on Ctrl-Z, and puts the terminal back itself if the target dies
 * meanwhile.  `report FILE`, `open` and `diff` read dumps: they exec the
 * Python refscope was built for, whose module holds the reader.
 *
 * Exit status: 0 done; 1 refscope could not do it (the message says why
 * and what to do); 2 bad command line; 3 the target exited or crashed while
 * attached.  `run` exits with the program's status (127 when Python cannot
 * be started).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "inject.h"

#ifndef REFSCOPE_VERSION
#error "build with -DREFSCOPE_VERSION (the Makefile takes it from src/module.c)"
#endif
#ifndef RS_PYTHON_EXE
#error "build with -DRS_PYTHON_EXE (the interpreter the module was built for)"
#endif
#ifndef RS_PYTHON_VERSION
#error "build with -DRS_PYTHON_VERSION (major.minor of that interpreter)"
#endif

enum { EXIT_DONE = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_TARGET_GONE = 3, EXIT_NO_PYTHON = 127 };

/* Seconds before saying why the target has not answered yet. */
#define NOTICE_AFTER_MS 3000

static int fail(int status, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Prints "refscope: MESSAGE" and returns status: the CLI's one error path. */
static int fail(int status, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    fputs("refscope: ", stderr);
    vfprintf(stderr, format, ap);
    fputc('\n', stderr);
    va_end(ap);
    return status;
}

static void note(const char *format, ...) __attribute__((format(printf, 1, 2)));

static void note(const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    fputs("refscope: ", stderr);
    vfprintf(stderr, format, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* --- Where things are ------------------------------------------------------------ */

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The directory to put on PYTHONPATH so that `import refscope` finds the
 * package this program belongs to: this binary sits in the package
 * (PKG/bin/refscope, as installed by pip or make install) or in the build
 * tree (build/bin next to build/lib).  Empty when neither: the package is
 * then installed where the interpreter looks anyway. */
static void package_parent(char *buf, size_t len)
{
    char exe[PATH_MAX], candidate[PATH_MAX + 32];
    buf[0] = '\0';
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return;
    *slash = '\0'; /* exe is now the binary's directory */
    snprintf(candidate, sizeof candidate, "%s/../__init__.py", exe);
    if (is_file(candidate)) {
        snprintf(candidate, sizeof candidate, "%s/../..", exe);
    } else {
        snprintf(candidate, sizeof candidate, "%s/../lib/refscope/__init__.py", exe);
        if (!is_file(candidate))
            return;
        snprintf(candidate, sizeof candidate, "%s/../lib", exe);
    }
    if (realpath(candidate, exe) != NULL && strlen(exe) < len)
        memcpy(buf, exe, strlen(exe) + 1);
}

/* Puts the package's parent directory first on PYTHONPATH, so that the
 * Python this program starts imports this refscope.  0, or -1 (memory). */
static int put_package_on_path(void)
{
    char parent[PATH_MAX];
    package_parent(parent, sizeof parent);
    if (parent[0] == '\0')
        return 0;
    const char *old = getenv("PYTHONPATH");
    size_t len = strlen(parent) + (old ? strlen(old) : 0) + 2;
    char *path = malloc(len);
    if (path == NULL)
        return -1;
    snprintf(path, len, "%s%s%s", parent, old && old[0] ? ":" : "", old && old[0] ? old : "");
    setenv("PYTHONPATH", path, 1);
    free(path);
    return 0;
}

static const char *python_exe(void)
{
    const char *python = getenv("REFSCOPE_PYTHON");
    return python != NULL && python[0] != '\0' ? python : RS_PYTHON_EXE;
}

/* --- Signals by name ---------------------------------------------------------- */

/* The signal named by text ("USR1", "SIGUSR1", "usr1", "10"), or 0. */
static int parse_signal(const char *text)
{
    char *end;
    long number = strtol(text, &end, 10);
    if (*text != '\0' && *end == '\0')
        return number > 0 && number < NSIG ? (int)number : 0;
    if (strncasecmp(text, "SIG", 3) == 0)
        text += 3;
    /* RTMIN, RTMIN+N, RTMAX, RTMAX-N, as kill(1) writes them. */
    bool rtmin = strncasecmp(text, "RTMIN", 5) == 0, rtmax = strncasecmp(text, "RTMAX", 5) == 0;
    if (rtmin || rtmax) {
        long offset = 0;
        if (text[5] != '\0') {
            if (text[5] != (rtmin ? '+' : '-') || text[6] < '0' || text[6] > '9')
                return 0;
            offset = strtol(text + 6, &end, 10);
            if (*end != '\0' || offset > SIGRTMAX - SIGRTMIN)
                return 0;
        }
        return rtmin ? SIGRTMIN + (int)offset : SIGRTMAX - (int)offset;
    }
    for (int s = 1; s < NSIG; s++) {
        const char *name = sigabbrev_np(s);
        if (name != NULL && strcasecmp(name, text) == 0)
            return s;
    }
    return 0;
}

static void signal_name(int signum, char *buf, size_t len)
{
    const char *name = sigabbrev_np(signum);
    if (name != NULL)
        snprintf(buf, len, "%s", name);
    else
        snprintf(buf, len, "%d", signum);
}

/* --- refscope run ------------------------------------------------------------- */

/* Run as `python -c BOOTSTRAP SIGNUM SIGNAME QUIET KIND TARGET ARGS...`.
 * The program runs through runpy in its own __main__, as `python script.py`
 * or `python -m module` would run it; an exception it raises shows its
 * traceback from the program's first frame on, as Python shows it, and a
 * module or script runpy cannot find is one line. */
static const char bootstrap[] =
    "def _refscope_run():\n"
    "    import os, runpy, sys\n"
    "    try:\n"
    "        import refscope\n"
    "    except ImportError as e:\n"
    "        sys.exit('refscope: run: %s cannot import refscope (%s); this refscope is built for Python '\n"
    "                 '" RS_PYTHON_VERSION ": set REFSCOPE_PYTHON to that Python, or build refscope for this one '\n"
    "                 '(make PYTHON=%s)' % (sys.executable, e, sys.executable))\n"
    "    _, signum, signame, quiet, kind, target, *args = sys.argv\n"
    "    try:\n"
    "        refscope.install(int(signum))\n"
    "    except refscope.Error as e:\n"
    "        print('refscope: %s; running the program without it' % e, file=sys.stderr)\n"
    "    else:\n"
    "        if quiet == '0':\n"
    "            pid = os.getpid()\n"
    "            print('refscope: PID %d: `kill -%s %d` opens the browser on this terminal, '\n"
    "                  '`refscope attach %d` on another' % (pid, signame, pid, pid), file=sys.stderr)\n"
    "    sys.argv = [target] + args\n"
    "    try:\n"
    "        if kind == '-m':\n"
    "            sys.path[0] = os.getcwd()  # as python -m has it, not -c's ''\n"
    "            runpy.run_module(target, run_name='__main__', alter_sys=True)\n"
    "        else:\n"
    "            sys.path[0] = os.path.dirname(os.path.abspath(target))\n"
    "            runpy.run_path(os.path.abspath(target), run_name='__main__')\n"
    "    except (SystemExit, KeyboardInterrupt):\n"
    "        raise\n"
    "    except BaseException as e:\n"
    "        # As python itself reports it: without this bootstrap's and\n"
    "        # runpy's frames, and runpy's own errors as one line.\n"
    "        tb = e.__traceback__\n"
    "        while tb is not None and (tb.tb_frame.f_code.co_filename == '<string>'\n"
    "                                  or tb.tb_frame.f_globals.get('__name__') == 'runpy'):\n"
    "            tb = tb.tb_next\n"
    "        if tb is None and isinstance(e, ImportError):\n"
    "            sys.exit('%s: %s' % (sys.executable, e))\n"
    "        sys.excepthook(type(e), e.with_traceback(tb), tb)\n"
    "        sys.exit(1)\n"
    "_refscope_run()\n";

static int run_usage(void);

static int cmd_run(int argc, char **argv)
{
    int signum = SIGUSR1;
    bool quiet = false;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && strcmp(argv[i], "-m") != 0; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            run_usage();
            return EXIT_DONE;
        } else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
            quiet = true;
        } else if ((strcmp(argv[i], "-s") == 0 || strcmp(argv[i], "--signal") == 0) && i + 1 < argc) {
            if ((signum = parse_signal(argv[++i])) == 0)
                return fail(EXIT_USAGE, "unknown signal '%s'; give a name such as USR1 or a number", argv[i]);
        } else if (strncmp(argv[i], "--signal=", 9) == 0) {
            if ((signum = parse_signal(argv[i] + 9)) == 0)
                return fail(EXIT_USAGE, "unknown signal '%s'; give a name such as USR1 or a number", argv[i] + 9);
        } else {
            return fail(EXIT_USAGE, "run: unknown option '%s'; see refscope run --help", argv[i]);
        }
    }
    if (!rs_attach_hotkey_signal_ok(signum)) {
        char name[32];
        signal_name(signum, name, sizeof name);
        return fail(EXIT_USAGE, "run: signal %s cannot be the hotkey; use " RS_ATTACH_HOTKEY_SIGNALS, name);
    }
    const char *kind = "script";
    if (i < argc && strcmp(argv[i], "-m") == 0) {
        kind = "-m";
        i++;
    }
    if (i >= argc)
        return fail(EXIT_USAGE, "run: give a script (refscope run app.py) or a module (refscope run -m app)");
    if (strcmp(kind, "script") == 0 && access(argv[i], R_OK) < 0)
        return fail(EXIT_FAILED, "cannot open the script %s: %s", argv[i], strerror(errno));

    char signum_text[16], name[32];
    snprintf(signum_text, sizeof signum_text, "%d", signum);
    signal_name(signum, name, sizeof name);
    if (put_package_on_path() < 0)
        return fail(EXIT_FAILED, "out of memory");
    const char *python = python_exe();
    char **args = calloc((size_t)(argc - i) + 9, sizeof *args);
    if (args == NULL)
        return fail(EXIT_FAILED, "out of memory");
    int n = 0;
    args[n++] = (char *)python;
    args[n++] = "-c";
    args[n++] = (char *)bootstrap;
    args[n++] = signum_text;
    args[n++] = name;
    args[n++] = quiet ? "1" : "0";
    args[n++] = (char *)kind;
    for (; i < argc; i++)
        args[n++] = argv[i];
    execv(python, args);
    int saved = errno;
    free(args);
    return fail(EXIT_NO_PYTHON, "cannot start %s: %s; set REFSCOPE_PYTHON to the Python %s that has refscope",
                python, strerror(saved), RS_PYTHON_VERSION);
}

/* --- The target process -------------------------------------------------------- */

typedef struct target {
    pid_t pid;
    uid_t uid;
} target;

/* The state letter of /proc/PID/stat (R, S, T, Z, ...), or 0; also its
 * process group and session when asked. */
static char process_state(pid_t pid, long *pgrp, long *session)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    char state = 0;
    long group = 0, sid = 0;
    if (p == NULL || sscanf(p + 1, " %c %*d %ld %ld", &state, &group, &sid) < 1)
        return 0;
    if (pgrp != NULL)
        *pgrp = group;
    if (session != NULL)
        *session = sid;
    return state;
}

/* The name of uid in buf (getpwuid's own buffer is shared between calls). */
static const char *user_name(uid_t uid, char *buf, size_t len)
{
    struct passwd *pw = getpwuid(uid);
    snprintf(buf, len, "%s", pw != NULL ? pw->pw_name : "?");
    return buf;
}

/* Parses PID and checks that this user may talk to that process. */
static int target_open(const char *text, target *t)
{
    char *end, path[64];
    long pid = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || pid <= 0 || pid != (pid_t)pid)
        return fail(EXIT_USAGE, "'%s' is not a process ID", text);
    t->pid = (pid_t)pid;
    struct stat st;
    snprintf(path, sizeof path, "/proc/%ld", pid);
    char state = process_state(t->pid, NULL, NULL);
    if (stat(path, &st) < 0 || state == 'Z')
        return fail(EXIT_FAILED, "no process with PID %ld is running", pid);
    /* A stopped process cannot answer, and Ctrl-C could not give up. */
    if (state == 'T')
        return fail(EXIT_FAILED, "PID %ld is stopped (Ctrl-Z or SIGSTOP); resume it (fg in its shell, or kill -CONT "
                    "%ld) and try again", pid, pid);
    if (state == 't')
        return fail(EXIT_FAILED, "PID %ld is stopped by a debugger or tracer; let it continue there and try again",
                    pid);
    t->uid = st.st_uid;
    if (t->pid == getpid())
        return fail(EXIT_USAGE, "PID %ld is this refscope command itself", pid);
    char owner[64], self[64];
    if (t->uid != geteuid() && geteuid() != 0)
        return fail(EXIT_FAILED, "PID %ld belongs to uid %u (%s) and you are uid %u (%s); refscope attaches only "
                    "to your own processes: run it as that user or as root", pid, (unsigned)t->uid,
                    user_name(t->uid, owner, sizeof owner), (unsigned)geteuid(),
                    user_name(geteuid(), self, sizeof self));
    return EXIT_DONE;
}

/* The value of NAME in the target's environment (from /proc/PID/environ,
 * readable by its user and root), copied into buf; NULL when unknown. */
static const char *target_env(const target *t, const char *name, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/environ", (long)t->pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    size_t name_len = strlen(name);
    const char *found = NULL;
    char *entry = NULL;
    size_t cap = 0;
    while (found == NULL && getdelim(&entry, &cap, '\0', f) > 0)
        if (strncmp(entry, name, name_len) == 0 && entry[name_len] == '=' && strlen(entry + name_len + 1) < len)
            found = memcpy(buf, entry + name_len + 1, strlen(entry + name_len + 1) + 1);
    free(entry);
    fclose(f);
    return found;
}

/* Every place the target's socket may be, best guess first. */
static int socket_candidates(const target *t, char paths[][sizeof(((struct sockaddr_un *)0)->sun_path)], int max)
{
    char xdg[PATH_MAX], tmp[PATH_MAX], run_user[64], dir[PATH_MAX];
    const char *env[4][2];
    int n_env = 0, n = 0;
    const char *target_xdg = target_env(t, "XDG_RUNTIME_DIR", xdg, sizeof xdg);
    const char *target_tmp = target_env(t, "TMPDIR", tmp, sizeof tmp);
    env[n_env][0] = target_xdg, env[n_env++][1] = target_tmp;
    if (t->uid == geteuid())
        env[n_env][0] = getenv("XDG_RUNTIME_DIR"), env[n_env++][1] = getenv("TMPDIR");
    snprintf(run_user, sizeof run_user, "/run/user/%u", (unsigned)t->uid);
    env[n_env][0] = run_user, env[n_env++][1] = NULL;
    env[n_env][0] = NULL, env[n_env++][1] = NULL;
    for (int i = 0; i < n_env && n < max; i++) {
        if (rs_attach_dir(dir, sizeof dir, t->uid, env[i][0], env[i][1]) < 0 ||
            rs_attach_socket_path(paths[n], sizeof paths[n], dir, t->pid) < 0)
            continue;
        bool seen = false;
        for (int k = 0; k < n; k++)
            seen = seen || strcmp(paths[k], paths[n]) == 0;
        if (!seen)
            n++;
    }
    return n;
}

typedef enum { CONNECTED, NO_LISTENER, DENIED, BROKEN } connect_result;

/* Connects to the target's listener.  The directory comes from the
 * target's own environment, so it is trusted only when it is the target
 * user's (rs_attach_open_dir) and is then used through a descriptor, never
 * by its name again: a symlink or a directory of someone else leads
 * nowhere.  A socket of the target's user that nobody listens on is stale:
 * it is removed.  On DENIED/BROKEN, why is in err. */
static connect_result target_connect(const target *t, int *fd, char *err, size_t err_len)
{
    char paths[4][sizeof(((struct sockaddr_un *)0)->sun_path)];
    int count = socket_candidates(t, paths, 4);
    connect_result result = NO_LISTENER;
    for (int i = 0; i < count; i++) {
        char *slash = strrchr(paths[i], '/');
        *slash = '\0';
        int dir_fd = rs_attach_open_dir(paths[i], t->uid);
        *slash = '/';
        if (dir_fd < 0) {
            if (errno == EPERM || errno == ELOOP || errno == ENOTDIR)
                note("ignored %.*s: not a private directory of uid %u", (int)(slash - paths[i]), paths[i],
                     (unsigned)t->uid);
            continue;
        }
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/%s", dir_fd, slash + 1);
        *fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (*fd < 0) {
            snprintf(err, err_len, "cannot make a socket: %s", strerror(errno));
            close(dir_fd);
            return BROKEN;
        }
        if (connect(*fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
            struct ucred cred;
            socklen_t len = sizeof cred;
            close(dir_fd);
            if (getsockopt(*fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid == t->pid)
                return CONNECTED;
            snprintf(err, err_len, "%s is served by PID %ld, not by PID %ld; remove it if that is wrong",
                     paths[i], (long)cred.pid, (long)t->pid);
            result = BROKEN;
        } else if (errno == ECONNREFUSED) {
            if (rs_attach_unlink_socket(dir_fd, slash + 1, t->uid) == 0)
                note("removed %s: nobody listened on it (left by an earlier process with PID %ld)", paths[i],
                     (long)t->pid);
            close(dir_fd);
        } else if (errno == EACCES || errno == EPERM) {
            char owner[64];
            close(dir_fd);
            snprintf(err, err_len, "permission denied on %s; run refscope as the user who owns PID %ld (%s) "
                     "or as root", paths[i], (long)t->pid, user_name(t->uid, owner, sizeof owner));
            result = DENIED;
        } else {
            int saved = errno;
            close(dir_fd);
            if (saved != ENOENT && saved != ENOTDIR) {
                snprintf(err, err_len, "cannot connect to %s: %s", paths[i], strerror(saved));
                result = BROKEN;
            }
        }
        close(*fd);
        *fd = -1;
    }
    return result;
}

static long elapsed_ms(const struct timespec *start);

/* --- Starting a listener with refscope's injector ------------------------------- */

/* How long the listener may take to appear once the injector is done: at
 * once when the code ran in the call, at the main thread's next bytecode
 * boundary when it was queued. */
#define LISTENER_TIMEOUT_MS 10000

/* Appends text to a string under construction, escaped for a Python
 * '...' string. */
static void append_escaped(char *buf, size_t len, const char *text)
{
    size_t at = strlen(buf);
    for (; *text && at + 3 < len; text++) {
        if (*text == '\\' || *text == '\'') {
            buf[at++] = '\\';
            buf[at++] = *text;
        } else if (*text == '\n') {
            buf[at++] = '\\';
            buf[at++] = 'n';
        } else {
            buf[at++] = *text;
        }
    }
    buf[at] = '\0';
}

/* The Python statement the injector runs in the target.  exec() in a
 * fresh namespace, so that nothing lands in the program's __main__; the
 * hotkey is the first signal the program leaves alone; a failure goes to
 * error_file, never out of the statement: run as a pending call, an
 * escaping exception would surface in the program's main thread. */
static void injected_code(char *buf, size_t len, const char *parent, const char *error_file)
{
    char code[4096] = "import signal, sys\n"
                      "try:\n"
                      "    d = '";
    append_escaped(code, sizeof code, parent);
    strncat(code, "'\n"
                  "    if d and d not in sys.path: sys.path.append(d)\n"
                  "    import refscope\n"
                  "    free = [s for s in (signal.SIGUSR1, signal.SIGUSR2, *range(signal.SIGRTMIN, signal.SIGRTMAX))\n"
                  "            if signal.getsignal(s) == signal.SIG_DFL]\n"
                  "    if not free: raise refscope.Error('every signal refscope could use has a handler already')\n"
                  "    refscope.install(free[0])\n"
                  "except BaseException as e:\n"
                  "    try:\n"
                  "        with open('",
            sizeof code - strlen(code) - 1);
    append_escaped(code, sizeof code, error_file);
    strncat(code, "', 'w') as f: f.write('%s: %s' % (type(e).__name__, e))\n"
                  "    except BaseException: pass\n",
            sizeof code - strlen(code) - 1);
    snprintf(buf, len, "__import__('builtins').exec('");
    append_escaped(buf, len, code);
    strncat(buf, "', {})", len - strlen(buf) - 1);
}

/* What refscope.install() wrote to error_file in the target, or "". */
static void read_error_file(const char *error_file, char *message, size_t len)
{
    message[0] = '\0';
    FILE *f = fopen(error_file, "r");
    if (f != NULL) {
        size_t n = fread(message, 1, len - 1, f);
        message[n] = '\0';
        fclose(f);
    }
}

/* Starts refscope's listener in t with the ptrace injector (inject.c):
 * `import refscope; refscope.install()` in its main thread, and connects
 * to it.  Only the listener goes in, never the browser; the target is
 * never left stopped or traced. */
static int start_listener(const target *t, int *fd)
{
    char error_file[] = "/tmp/refscope-inject-XXXXXX";
    int error_fd = mkstemp(error_file);
    if (error_fd < 0)
        return fail(EXIT_FAILED, "cannot create a temporary file in /tmp: %s", strerror(errno));
    if (geteuid() == 0 && t->uid != 0 && fchown(error_fd, t->uid, (gid_t)-1) < 0)
        note("cannot hand %s to uid %u: %s", error_file, (unsigned)t->uid, strerror(errno));
    close(error_fd);

    char parent[PATH_MAX], code[8192], err[1024], message[1024];
    package_parent(parent, sizeof parent);
    injected_code(code, sizeof code, parent, error_file);
    note("PID %ld has no refscope listener; starting refscope's listener in PID %ld (ptrace)", (long)t->pid,
         (long)t->pid);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    rs_inject_outcome outcome;
    if (rs_inject_python(t->pid, code, RS_PYTHON_VERSION, &outcome, err, sizeof err) < 0) {
        read_error_file(error_file, message, sizeof message);
        unlink(error_file);
        if (message[0] != '\0')
            return fail(EXIT_FAILED, "refscope.install() failed inside PID %ld: %s", (long)t->pid, message);
        if (!outcome.attached)
            return fail(EXIT_FAILED, "%s", err);
        return fail(EXIT_FAILED, "%s; PID %ld was left running as it was", err, (long)t->pid);
    }
    long injected_ms = elapsed_ms(&start);
    connect_result r = NO_LISTENER;
    message[0] = '\0';
    while (elapsed_ms(&start) < injected_ms + LISTENER_TIMEOUT_MS) {
        read_error_file(error_file, message, sizeof message);
        if (message[0] != '\0' || (r = target_connect(t, fd, err, sizeof err)) != NO_LISTENER)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
    }
    unlink(error_file);
    if (message[0] != '\0')
        return fail(EXIT_FAILED, "refscope.install() failed inside PID %ld: %s%s", (long)t->pid, message,
                    strstr(message, "ModuleNotFoundError") != NULL
                        ? " (install refscope for that program's Python, or run it with `refscope run`)"
                        : "");
    if (r == DENIED || r == BROKEN)
        return fail(EXIT_FAILED, "refscope.install() ran in PID %ld, but its socket cannot be reached: %s",
                    (long)t->pid, err);
    if (r == NO_LISTENER && outcome.ran)
        return fail(EXIT_FAILED, "refscope.install() ran in PID %ld, but its socket is not there", (long)t->pid);
    if (r == NO_LISTENER)
        return fail(EXIT_FAILED, "refscope's listener is queued in PID %ld, but its main thread has not run Python "
                    "code for %d s to start it (busy in C code?); it starts when it does: try again later",
                    (long)t->pid, LISTENER_TIMEOUT_MS / 1000);
    note("started refscope's listener in PID %ld in %ld ms (its main thread was %s)", (long)t->pid,
         elapsed_ms(&start), outcome.where);
    return EXIT_DONE;
}

/* Connects to the target, starting its listener first when it has none. */
static int target_session(const target *t, int *fd)
{
    char err[PATH_MAX + 256];
    connect_result r = target_connect(t, fd, err, sizeof err);
    if (r == DENIED || r == BROKEN)
        return fail(EXIT_FAILED, "cannot reach PID %ld: %s", (long)t->pid, err);
    if (r == CONNECTED)
        return EXIT_DONE;
    return start_listener(t, fd);
}

/* --- refscope attach ------------------------------------------------------------ */

static volatile sig_atomic_t got_interrupt, got_winch, got_terminate;

static void on_signal(int signum)
{
    if (signum == SIGWINCH)
        got_winch = 1;
    else if (signum == SIGINT)
        got_interrupt = 1;
    else
        got_terminate = 1; /* SIGTERM, SIGHUP */
}

static long elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* The relay (DESIGN.md section 8): the target gets the slave side of a
 * pseudo-terminal this process owns, never the user's terminal, and this
 * process copies keys from the terminal to the master side and the screen
 * back.  So a target of another user never holds root's terminal, and
 * when this process dies (even by kill -9) or its terminal goes away, the
 * master closes and the target's browser sees a hang-up and ends. */
typedef struct relay {
    int tty;    /* the user's terminal */
    int master; /* -1 once closed */
    struct termios saved;
    bool have_saved;
    bool raw;         /* tty is in raw mode for the relay */
    bool slave_gone;  /* every slave descriptor is closed (EIO on the master) */
} relay;

/* Writes all of buf to fd; -1 when fd fails (the terminal is gone). */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Makes the pseudo-terminal, with the terminal's modes and size.  Returns
 * the slave descriptor to send, or -1 with a sentence in err. */
static int relay_open(relay *r, char *err, size_t err_len)
{
    char name[128];
    struct winsize ws;
    r->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (r->master < 0 || grantpt(r->master) < 0 || unlockpt(r->master) < 0 ||
        ptsname_r(r->master, name, sizeof name) != 0) {
        snprintf(err, err_len, "cannot make a pseudo-terminal for the browser: %s", strerror(errno));
        return -1;
    }
    int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) {
        snprintf(err, err_len, "cannot open the pseudo-terminal %s: %s", name, strerror(errno));
        return -1;
    }
    if (r->have_saved)
        tcsetattr(slave, TCSANOW, &r->saved);
    if (ioctl(r->tty, TIOCGWINSZ, &ws) == 0)
        ioctl(r->master, TIOCSWINSZ, &ws);
    /* Keys typed while the browser reads nothing are dropped, not waited for. */
    fcntl(r->master, F_SETFL, fcntl(r->master, F_GETFL) | O_NONBLOCK);
    return slave;
}

static void relay_raw(relay *r)
{
    struct termios raw = r->saved;
    if (!r->have_saved || r->raw)
        return;
    cfmakeraw(&raw);
    r->raw = tcsetattr(r->tty, TCSADRAIN, &raw) == 0;
}

static void relay_restore(relay *r)
{
    if (r->raw)
        tcsetattr(r->tty, TCSADRAIN, &r->saved);
    r->raw = false;
}

/* Copies what the browser drew to the terminal.  -1 when the terminal is
 * gone. */
static int relay_output(relay *r)
{
    char buf[16384];
    for (;;) {
        ssize_t n = read(r->master, buf, sizeof buf);
        if (n > 0) {
            if (write_all(r->tty, buf, (size_t)n) < 0)
                return -1;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || errno == EIO)
            r->slave_gone = true;
        return 0;
    }
}

/* Copies what the browser drew before it closed, until the target has
 * closed the slave or nothing came for a while. */
static void relay_drain(relay *r)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (!r->slave_gone && elapsed_ms(&start) < 2000) {
        struct pollfd p = {.fd = r->master, .events = POLLIN};
        if (poll(&p, 1, 250) <= 0 || relay_output(r) < 0)
            break;
    }
}

/* Ctrl-Z: puts the terminal back and stops this process (and its job);
 * on `fg`, raw mode again and the browser repaints (Ctrl-L). */
static void relay_suspend(relay *r)
{
    static const char leave[] = "\033[?1049l", enter[] = "\033[?1049h", redraw[] = "\f";
    struct winsize ws;
    write_all(r->tty, leave, sizeof leave - 1);
    relay_restore(r);
    signal(SIGTSTP, SIG_DFL);
    kill(0, SIGTSTP);
    signal(SIGTSTP, SIG_IGN);
    relay_raw(r);
    write_all(r->tty, enter, sizeof enter - 1);
    if (ioctl(r->tty, TIOCGWINSZ, &ws) == 0)
        ioctl(r->master, TIOCSWINSZ, &ws);
    ssize_t ignored = write(r->master, redraw, 1);
    (void)ignored;
}

/* Copies keys to the browser.  Returns -1 when the terminal is gone, 1
 * after a Ctrl-Z suspended this process, else 0. */
static int relay_input(relay *r)
{
    char buf[4096];
    ssize_t n = read(r->tty, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0)
        return -1;
    char *ctrl_z = memchr(buf, 0x1a, (size_t)n);
    size_t keys = ctrl_z != NULL ? (size_t)(ctrl_z - buf) : (size_t)n;
    ssize_t ignored = keys > 0 ? write(r->master, buf, keys) : 0;
    (void)ignored;
    if (ctrl_z == NULL)
        return 0;
    relay_suspend(r);
    return 1;
}

/* Puts the terminal back after a target that died with the browser open:
 * the saved modes, then the xterm sequences that undo what curses set
 * (every terminal emulator in use speaks them; unknown ones are ignored). */
static void restore_terminal(relay *r)
{
    static const char reset[] = "\033[?1000l\033[?1002l\033[?1003l\033[?1006l" /* mouse reports off */
                                "\033[?1l\033>"                             /* normal cursor keys, keypad */
                                "\033[0m\033[?25h"                          /* plain text, cursor shown */
                                "\033[?1049l\r\n";                          /* leave the alternate screen */
    relay_drain(r);
    relay_restore(r);
    write_all(r->tty, reset, sizeof reset - 1);
}

/* Sends the attach request with the slave side of a pseudo-terminal and
 * relays between it and the terminal until the browser is done. */
static int attach_wait(int conn, int tty, const target *t)
{
    struct winsize ws = {0};
    ioctl(tty, TIOCGWINSZ, &ws);
    const char *term = getenv("TERM"); /* checked by cmd_attach */
    relay r = {.tty = tty, .master = -1};
    r.have_saved = tcgetattr(tty, &r.saved) == 0;
    char err[256];
    int slave = relay_open(&r, err, sizeof err);
    if (slave < 0) {
        if (r.master >= 0)
            close(r.master);
        return fail(EXIT_FAILED, "%s", err);
    }
    char request[RS_ATTACH_RECORD_MAX];
    int len = snprintf(request, sizeof request, RS_ATTACH_MAGIC " attach %u %u %s", ws.ws_row, ws.ws_col, term);
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control = {0};
    struct iovec iov = {.iov_base = request, .iov_len = (size_t)len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &slave, sizeof slave);

    /* Signals arrive only inside ppoll(), so none is lost between checks. */
    static const int caught[] = {SIGINT, SIGWINCH, SIGTERM, SIGHUP};
    sigset_t block, waiting;
    sigemptyset(&block);
    for (size_t i = 0; i < sizeof caught / sizeof caught[0]; i++)
        sigaddset(&block, caught[i]);
    sigprocmask(SIG_BLOCK, &block, &waiting);
    struct sigaction sa = {.sa_handler = on_signal};
    for (size_t i = 0; i < sizeof caught / sizeof caught[0]; i++) {
        sigdelset(&waiting, caught[i]);
        sigaction(caught[i], &sa, NULL);
    }

    ssize_t sent;
    do
        sent = sendmsg(conn, &msg, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    /* The target holds the only slave descriptor now: when it closes it,
     * the master reads EIO. */
    close(slave);
    if (sent < 0) {
        close(r.master);
        return fail(EXIT_FAILED, "cannot send the terminal to PID %ld: %s", (long)t->pid, strerror(errno));
    }

    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    bool open = false, cancelling = false, noticed = false;
    int status = -1;
    while (status < 0) {
        struct pollfd p[3] = {
            {.fd = conn, .events = POLLIN},
            {.fd = open && !r.slave_gone ? r.master : -1, .events = POLLIN},
            {.fd = open ? tty : -1, .events = POLLIN},
        };
        int ready = ppoll(p, 3, &(struct timespec){.tv_nsec = 250 * 1000 * 1000}, &waiting);
        if (got_terminate) {
            restore_terminal(&r);
            status = fail(EXIT_FAILED, "stopped by a signal; the browser in PID %ld closes as its terminal hangs up",
                          (long)t->pid);
            break;
        }
        if (got_winch) {
            got_winch = 0;
            if (ioctl(tty, TIOCGWINSZ, &ws) == 0)
                ioctl(r.master, TIOCSWINSZ, &ws);
            if (open)
                rs_attach_send(conn, "winch");
        }
        if (got_interrupt) {
            got_interrupt = 0;
            if (!open && !cancelling) {
                rs_attach_send(conn, "cancel");
                cancelling = true;
            } else if (!open) { /* it does not answer (stopped meanwhile?): leave; it finds the terminal hung up */
                status = fail(EXIT_FAILED, "gave up without waiting for PID %ld to answer; if its browser opens "
                              "later, it finds no terminal and the program goes on", (long)t->pid);
                break;
            }
        }
        if (!open && !noticed && elapsed_ms(&start) > NOTICE_AFTER_MS) {
            note("PID %ld has not opened the browser after %d s: its main thread has not run Python code since "
                 "(it is busy in C code, or blocked in a call that does not return on signals), or the program "
                 "replaced refscope's signal handler; still waiting, Ctrl-C gives up",
                 (long)t->pid, NOTICE_AFTER_MS / 1000);
            noticed = true;
        }
        if (ready <= 0)
            continue;
        int input = p[2].revents ? relay_input(&r) : 0;
        if ((p[1].revents && relay_output(&r) < 0) || input < 0) {
            relay_restore(&r);
            status = fail(EXIT_FAILED, "the terminal went away; the browser in PID %ld closes and the program goes on",
                          (long)t->pid);
            break;
        }
        if (input > 0 && ioctl(tty, TIOCGWINSZ, &ws) == 0)
            rs_attach_send(conn, "winch"); /* the size may have changed while stopped */
        if (!p[0].revents)
            continue;
        char record[RS_ATTACH_RECORD_MAX];
        ssize_t n = rs_attach_recv(conn, record, sizeof record);
        if (n <= 0) {
            if (open)
                restore_terminal(&r);
            bool gone = false;
            /* The connection closes while the process is still exiting. */
            for (int tries = 0; !gone && tries < 20; tries++) {
                char state = process_state(t->pid, NULL, NULL);
                gone = state == 0 || state == 'Z' || state == 'X';
                if (!gone)
                    nanosleep(&(struct timespec){.tv_nsec = 25 * 1000 * 1000}, NULL);
            }
            status = fail(EXIT_TARGET_GONE, "PID %ld %s%s", (long)t->pid,
                          gone ? "exited (or crashed)" : "closed the connection unexpectedly",
                          open ? " while the browser was open; your terminal has been restored"
                               : " before the browser opened");
        } else if (rs_attach_is(record, "open")) {
            open = true;
            signal(SIGINT, SIG_IGN);
            signal(SIGQUIT, SIG_IGN);
            signal(SIGTSTP, SIG_IGN);
            relay_raw(&r);
        } else if (rs_attach_is(record, "done")) {
            relay_drain(&r);
            relay_restore(&r);
            status = EXIT_DONE;
        } else if (rs_attach_is(record, "cancelled")) {
            status = fail(EXIT_FAILED, "gave up waiting; PID %ld is unchanged", (long)t->pid);
        } else if (rs_attach_is(record, "error")) {
            if (open)
                restore_terminal(&r);
            status = fail(EXIT_FAILED, "PID %ld: %s", (long)t->pid, record + 6);
        }
    }
    relay_restore(&r);
    close(r.master);
    return status;
}

static int attach_usage(void);

static int cmd_attach(int argc, char **argv)
{
    const char *pid_text = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            attach_usage();
            return EXIT_DONE;
        }
        if (argv[i][0] == '-' || pid_text != NULL)
            return fail(EXIT_USAGE, "attach: unexpected '%s'; see refscope attach --help", argv[i]);
        pid_text = argv[i];
    }
    if (pid_text == NULL)
        return fail(EXIT_USAGE, "attach: give the process ID of the program (refscope attach PID)");
    target t;
    int status = target_open(pid_text, &t);
    if (status != EXIT_DONE)
        return status;
    int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (tty < 0)
        return fail(EXIT_FAILED, "attach needs a terminal to show the browser on, and this command has none; "
                    "run it from an interactive terminal, or use `refscope report %ld` for a text report",
                    (long)t.pid);
    /* Before a listener is started for nothing: the browser needs a TERM it can draw with. */
    const char *term = getenv("TERM");
    if (term == NULL || term[0] == '\0' || strcmp(term, "dumb") == 0 || strlen(term) >= RS_ATTACH_TERM_MAX ||
        strchr(term, ' ') != NULL) {
        close(tty);
        return fail(EXIT_FAILED, "TERM is unset, dumb or unusual here ('%s'); set it to your terminal's type, such "
                    "as xterm-256color, or use `refscope report %ld` for a text report", term ? term : "",
                    (long)t.pid);
    }
    int conn = -1;
    status = target_session(&t, &conn);
    if (status == EXIT_DONE)
        status = attach_wait(conn, tty, &t);
    if (conn >= 0)
        close(conn);
    close(tty);
    return status;
}

/* Opens the target named by pid_text, connects (starting its listener when
 * it has none) and sends request; *conn is then the open connection. */
static int target_request(const char *pid_text, target *t, int *conn, const char *request)
{
    int status = target_open(pid_text, t);
    if (status == EXIT_DONE)
        status = target_session(t, conn);
    if (status != EXIT_DONE)
        return status;
    if (rs_attach_send(*conn, "%s", request) < 0) {
        close(*conn);
        return fail(EXIT_FAILED, "cannot send the request to PID %ld: %s", (long)t->pid, strerror(errno));
    }
    return EXIT_DONE;
}

/* --- refscope report -------------------------------------------------------------- */

static int report_usage(void);
static int exec_dump_tool(int argc, char **argv);

static int cmd_report(int argc, char **argv)
{
    const char *pid_text = NULL, *format = "text";
    long top = 10;
    for (int i = 1; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            report_usage();
            return EXIT_DONE;
        } else if (strcmp(argv[i], "--json") == 0) {
            format = "json";
        } else if (strcmp(argv[i], "--top") == 0 && i + 1 < argc) {
            top = strtol(argv[++i], &end, 10);
            if (*argv[i] == '\0' || *end != '\0' || top <= 0 || top > 100000)
                return fail(EXIT_USAGE, "report: --top takes a positive number, not '%s'", argv[i]);
        } else if (argv[i][0] == '-' || pid_text != NULL) {
            return fail(EXIT_USAGE, "report: unexpected '%s'; see refscope report --help", argv[i]);
        } else {
            pid_text = argv[i];
        }
    }
    if (pid_text == NULL)
        return fail(EXIT_USAGE, "report: give the process ID of the program (refscope report PID)");
    if (is_file(pid_text))
        return exec_dump_tool(argc, argv);
    target t;
    int conn = -1;
    char request[64];
    snprintf(request, sizeof request, RS_ATTACH_MAGIC " report %s %ld", format, top);
    int status = target_request(pid_text, &t, &conn, request);
    if (status != EXIT_DONE)
        return status;
    char record[RS_ATTACH_RECORD_MAX];
    struct pollfd p = {.fd = conn, .events = POLLIN};
    if (poll(&p, 1, NOTICE_AFTER_MS) == 0)
        note("PID %ld has not answered after %d s: writing the report needs the GIL, which a thread holds (busy "
             "in C code?); still waiting, Ctrl-C gives up", (long)t.pid, NOTICE_AFTER_MS / 1000);
    ssize_t n = rs_attach_recv(conn, record, sizeof record);
    if (n <= 0)
        status = fail(EXIT_TARGET_GONE, "PID %ld went away before it sent the report", (long)t.pid);
    else if (rs_attach_is(record, "error"))
        status = fail(EXIT_FAILED, "PID %ld: %s", (long)t.pid, record + 6);
    else if (!rs_attach_is(record, "report"))
        status = fail(EXIT_FAILED, "PID %ld answered something unexpected; use the refscope command of the same "
                      "version as the module in the program", (long)t.pid);
    while (status == EXIT_DONE && (n = rs_attach_recv(conn, record, sizeof record)) > 0)
        fwrite(record, 1, (size_t)n, stdout);
    close(conn);
    if (fflush(stdout) != 0 && status == EXIT_DONE)
        status = fail(EXIT_FAILED, "cannot write the report: %s", strerror(errno));
    return status;
}

/* --- refscope dump / diff / report FILE ---------------------------------------------- */

static const char dump_tool[] =
    "import sys\n"
    "from refscope.dumpreport import main\n"
    "sys.exit(main(sys.argv[1:]))\n";

/* Runs refscope.dumpreport.main(argv) in Python (this process becomes it):
 * reports over dump files need the reader, which lives in the module. */
static int exec_dump_tool(int argc, char **argv)
{
    if (put_package_on_path() < 0)
        return fail(EXIT_FAILED, "out of memory");
    const char *python = python_exe();
    char **args = calloc((size_t)argc + 4, sizeof *args);
    if (args == NULL)
        return fail(EXIT_FAILED, "out of memory");
    args[0] = (char *)python;
    args[1] = "-c";
    args[2] = (char *)dump_tool;
    for (int i = 0; i < argc; i++)
        args[3 + i] = argv[i];
    execv(python, args);
    int saved = errno;
    free(args);
    return fail(EXIT_NO_PYTHON, "cannot start %s: %s; set REFSCOPE_PYTHON to the Python %s that has refscope",
                python, strerror(saved), RS_PYTHON_VERSION);
}

static int diff_usage(void);

static int cmd_diff(int argc, char **argv)
{
    int files = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return diff_usage();
        if (strcmp(argv[i], "--top") == 0 && i + 1 < argc && atoi(argv[i + 1]) > 0)
            i++;
        else if (strcmp(argv[i], "--json") == 0)
            continue;
        else if (argv[i][0] == '-' || !is_file(argv[i]))
            return fail(argv[i][0] == '-' ? EXIT_USAGE : EXIT_FAILED, "diff: %s '%s'; see refscope diff --help",
                        argv[i][0] == '-' ? "unexpected" : "no dump file", argv[i]);
        else
            files++;
    }
    if (files != 2)
        return fail(EXIT_USAGE, "diff: give two dump files, the older first (refscope diff OLD NEW)");
    return exec_dump_tool(argc, argv);
}

static int open_usage(void);

/* refscope open FILE: the browser on a dump, in the Python refscope was
 * built for (the reader lives in the module); this terminal is its own. */
static int cmd_open(int argc, char **argv)
{
    const char *file = NULL, *older = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return open_usage();
        if (strcmp(argv[i], "--diff") == 0 && i + 1 < argc)
            older = argv[++i];
        else if (argv[i][0] == '-' || file != NULL)
            return fail(EXIT_USAGE, "open: unexpected '%s'; see refscope open --help", argv[i]);
        else
            file = argv[i];
    }
    if (file == NULL)
        return fail(EXIT_USAGE, "open: give the dump file (refscope open FILE)");
    if (!is_file(file) || (older != NULL && !is_file(older)))
        return fail(EXIT_FAILED, "open: no dump file '%s'", is_file(file) ? older : file);
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
        return fail(EXIT_FAILED, "open: the browser needs a terminal; refscope report %s prints the report", file);
    return exec_dump_tool(argc, argv);
}

static int dump_usage(void);

static int cmd_dump(int argc, char **argv)
{
    const char *pid_text = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return dump_usage();
        else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (argv[i][0] == '-' || pid_text != NULL)
            return fail(EXIT_USAGE, "dump: unexpected '%s'; see refscope dump --help", argv[i]);
        else
            pid_text = argv[i];
    }
    if (pid_text == NULL || out == NULL)
        return fail(EXIT_USAGE, "dump: give the process ID and the file (refscope dump PID -o FILE)");
    /* The target writes the file: give it an absolute path. */
    char path[PATH_MAX], cwd[PATH_MAX];
    if (out[0] != '/' && getcwd(cwd, sizeof cwd) == NULL)
        return fail(EXIT_FAILED, "cannot tell the current directory: %s", strerror(errno));
    if ((size_t)snprintf(path, sizeof path, "%s%s%s", out[0] == '/' ? "" : cwd, out[0] == '/' ? "" : "/", out) >=
        sizeof path - 64)
        return fail(EXIT_USAGE, "dump: the file name is too long");
    target t;
    int conn = -1;
    char request[PATH_MAX + 32];
    snprintf(request, sizeof request, RS_ATTACH_MAGIC " dump %s", path);
    int status = target_request(pid_text, &t, &conn, request);
    if (status != EXIT_DONE)
        return status;
    struct pollfd p = {.fd = conn, .events = POLLIN};
    if (poll(&p, 1, NOTICE_AFTER_MS) == 0)
        note("PID %ld has not answered after %d s: writing the dump needs the GIL, which a thread holds (busy "
             "in C code?); still waiting, Ctrl-C gives up", (long)t.pid, NOTICE_AFTER_MS / 1000);
    char record[RS_ATTACH_RECORD_MAX];
    ssize_t n = rs_attach_recv(conn, record, sizeof record);
    close(conn);
    if (n <= 0)
        return fail(EXIT_TARGET_GONE, "PID %ld went away before it wrote the dump", (long)t.pid);
    if (rs_attach_is(record, "error"))
        return fail(EXIT_FAILED, "PID %ld: %s", (long)t.pid, record + 6);
    if (!rs_attach_is(record, "dumped"))
        return fail(EXIT_FAILED, "PID %ld answered something unexpected; use the refscope command of the same "
                    "version as the module in the program", (long)t.pid);
    struct stat st;
    printf("refscope: PID %ld wrote %s (%lld bytes); refscope open %s browses it anywhere, refscope report "
           "prints its report\n",
           (long)t.pid, path, stat(path, &st) == 0 ? (long long)st.st_size : -1LL, out);
    return EXIT_DONE;
}

/* --- Usage -------------------------------------------------------------------------- */

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *synopsis;
    const char *help;
} command;

static const command commands[] = {
    {"run", cmd_run, "run [--signal SIG] [--quiet] (script.py | -m module) [args...]",
     "Run a Python program with refscope installed: the signal (default USR1) opens the\n"
     "browser on the program's terminal, and `refscope attach PID` works at once.\n"
     "  -s, --signal SIG  the hotkey signal, by name (USR2) or number: USR1, USR2, QUIT\n"
     "                    or a real-time signal (RTMIN, RTMIN+1, ..., RTMAX-1, RTMAX)\n"
     "  -q, --quiet       do not print the PID and how to open the browser\n"
     "The environment variable REFSCOPE_PYTHON chooses the Python (default " RS_PYTHON_EXE ")."},
    {"attach", cmd_attach, "attach PID",
     "Open the browser of process PID on this terminal; q in the browser returns here.\n"
     "When PID never called refscope.install(), refscope starts its listener with its own\n"
     "ptrace injector (same user or root, ptrace allowed, x86_64, the Python refscope was\n"
     "built for).  The program keeps running after the browser closes."},
    {"report", cmd_report, "report [--json] [--top N] (PID | FILE)",
     "Print the leak-suspects report of process PID (text, or JSON with --json;\n"
     "--top N rows per section, default 10).  Needs no terminal.  Given a dump FILE, the\n"
     "same report computed from the dump (growth, which needs a mark, left out)."},
    {"dump", cmd_dump, "dump PID -o FILE",
     "Make process PID write a heap dump to FILE (through its listener, started by the\n"
     "injector as for attach when it has none).  refscope open FILE, refscope report FILE,\n"
     "refscope diff and refscope.load(FILE) read it on any machine, without the process."},
    {"open", cmd_open, "open [--diff OLD] FILE",
     "Browse a heap dump in the terminal without the process: every screen that needs no\n"
     "live object (summary, types, objects with labelled referrers, why-alive paths,\n"
     "cycles, garbage, closures, threads, retained sets, values, allocation sites).\n"
     ":eval, :refresh, :mark, growth and the other live commands say why they are off.\n"
     "  --diff OLD  first show what grew since the older dump OLD, by holder path then by\n"
     "              type (as refscope diff OLD FILE prints it; :diff comes back to it)"},
    {"diff", cmd_diff, "diff [--json] [--top N] OLD NEW",
     "Compare two dumps of one process: growth by holder (the containers whose retained\n"
     "size grew the most, by path) and by type (objects matched by address and type)."},
};

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int command_usage(const char *name)
{
    const command *c = find_command(name);
    printf("usage: refscope %s\n\n%s\n", c->synopsis, c->help);
    return EXIT_DONE;
}

static int run_usage(void)
{
    return command_usage("run");
}

static int attach_usage(void)
{
    return command_usage("attach");
}

static int report_usage(void)
{
    return command_usage("report");
}

static int dump_usage(void)
{
    return command_usage("dump");
}

static int open_usage(void)
{
    return command_usage("open");
}

static int diff_usage(void)
{
    return command_usage("diff");
}

static void usage(FILE *out)
{
    fprintf(out, "usage: refscope COMMAND [options]\n\nFind memory leaks in a running Python program.\n\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  refscope %s\n", commands[i].synopsis);
    fprintf(out, "  refscope --help | --version\n\n"
                 "`refscope COMMAND --help` explains a command; `man refscope` explains all.\n"
                 "Exit status: 0 done, 1 failed (the message says why), 2 bad command line,\n"
                 "3 the program exited while attached; run exits with the program's status.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        if (argc > 2 && find_command(argv[2]) != NULL)
            return command_usage(argv[2]);
        usage(stdout);
        return EXIT_DONE;
    }
    if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("refscope %s (for Python %s)\n", REFSCOPE_VERSION, RS_PYTHON_VERSION);
        return EXIT_DONE;
    }
    const command *c = find_command(argv[1]);
    if (c == NULL) {
        fail(EXIT_USAGE, "unknown command '%s'", argv[1]);
        usage(stderr);
        return EXIT_USAGE;
    }
    return c->run(argc - 1, argv + 1);
}
