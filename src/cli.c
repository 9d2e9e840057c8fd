/*
 * The `refscope` command (not part of the module):
 *
 *   refscope run [--signal SIG] [--quiet] script.py [args]   (or -m module)
 *   refscope attach PID
 *   refscope report [--json] [--top N] (PID | FILE)
 *   refscope dump PID -o FILE
 *   refscope diff [--json] [--top N] OLD NEW
 *
 * `run` execs Python with a bootstrap that calls refscope.install() and
 * then runs the program, so the program keeps the PID.  `attach` and
 * `report` talk to the listener that install() started in the target (see
 * attach.h); when there is none, they start one through gdb.  For
 * `attach`, this process hands its terminal to the target and then only
 * waits: it never reads the terminal while the target owns it, ignores
 * Ctrl-C and Ctrl-\ (which belong to the browser), forwards window resizes,
 * and puts the terminal back itself if the target dies meanwhile.
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
/* Seconds gdb may take before it is interrupted. */
#define GDB_TIMEOUT_MS 30000

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
 * or `python -m module` would run it. */
static const char bootstrap[] =
    "def _refscope_run():\n"
    "    import os, runpy, sys\n"
    "    import refscope\n"
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
    "    if kind == '-m':\n"
    "        runpy.run_module(target, run_name='__main__', alter_sys=True)\n"
    "    else:\n"
    "        sys.path[0] = os.path.dirname(os.path.abspath(target))\n"
    "        runpy.run_path(target, run_name='__main__')\n"
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
    if (stat(path, &st) < 0 || process_state(t->pid, NULL, NULL) == 'Z')
        return fail(EXIT_FAILED, "no process with PID %ld is running", pid);
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

/* Connects to the target's listener.  A socket nobody listens on is a
 * stale one: it is removed.  On DENIED/BROKEN, why is in err. */
static connect_result target_connect(const target *t, int *fd, char *err, size_t err_len)
{
    char paths[4][sizeof(((struct sockaddr_un *)0)->sun_path)];
    int count = socket_candidates(t, paths, 4);
    connect_result result = NO_LISTENER;
    for (int i = 0; i < count; i++) {
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        memcpy(addr.sun_path, paths[i], strlen(paths[i]) + 1);
        *fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (*fd < 0) {
            snprintf(err, err_len, "cannot make a socket: %s", strerror(errno));
            return BROKEN;
        }
        if (connect(*fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
            struct ucred cred;
            socklen_t len = sizeof cred;
            if (getsockopt(*fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid == t->pid)
                return CONNECTED;
            snprintf(err, err_len, "%s is served by PID %ld, not by PID %ld; remove it if that is wrong",
                     paths[i], (long)cred.pid, (long)t->pid);
            result = BROKEN;
        } else if (errno == ECONNREFUSED) {
            if (unlink(paths[i]) == 0)
                note("removed %s: nobody listened on it (left by an earlier process with PID %ld)", paths[i],
                     (long)t->pid);
        } else if (errno == EACCES || errno == EPERM) {
            char owner[64];
            snprintf(err, err_len, "permission denied on %s; run refscope as the user who owns PID %ld (%s) "
                     "or as root", paths[i], (long)t->pid, user_name(t->uid, owner, sizeof owner));
            result = DENIED;
        } else if (errno != ENOENT && errno != ENOTDIR) {
            snprintf(err, err_len, "cannot connect to %s: %s", paths[i], strerror(errno));
            result = BROKEN;
        }
        close(*fd);
        *fd = -1;
    }
    return result;
}

/* --- Starting a listener with gdb ------------------------------------------- */

static bool find_program(const char *name, char *buf, size_t len)
{
    const char *path = getenv("PATH");
    if (path == NULL || path[0] == '\0')
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t dir_len = strcspn(path, ":");
        int n = snprintf(buf, len, "%.*s/%s", (int)dir_len, dir_len ? path : ".", name);
        if (n > 0 && (size_t)n < len && access(buf, X_OK) == 0 && is_file(buf))
            return true;
        path += dir_len + (path[dir_len] == ':');
    }
    return false;
}

/* Checks /proc/PID/maps for a Python of the version the module is built
 * for.  Returns 0 when it is (or cannot be told), else fails with why. */
static int check_python(const target *t)
{
    char path[64], line[PATH_MAX + 256], version[16] = "";
    snprintf(path, sizeof path, "/proc/%ld/maps", (long)t->pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return EXIT_DONE;
    bool python = false, match = false;
    while (!match && fgets(line, sizeof line, f) != NULL) {
        char *file = strrchr(line, '/');
        if (file == NULL)
            continue;
        file++;
        const char *v = strncmp(file, "libpython3.", 11) == 0 ? file + 9
                        : strncmp(file, "python3.", 8) == 0   ? file + 6
                                                              : NULL;
        if (v == NULL)
            continue;
        python = true;
        size_t n = strspn(v, "0123456789.");
        if (n > 0 && v[n - 1] == '.')
            n--;
        snprintf(version, sizeof version, "%.*s", (int)n, v);
        match = strcmp(version, RS_PYTHON_VERSION) == 0;
    }
    fclose(f);
    if (match)
        return EXIT_DONE;
    if (!python)
        return fail(EXIT_FAILED, "PID %ld does not look like a Python program (neither python3.X nor "
                    "libpython3.X is mapped in it), so refscope cannot start a listener in it", (long)t->pid);
    return fail(EXIT_FAILED, "PID %ld runs Python %s, but this refscope is built for Python %s: use a refscope "
                "built for Python %s (make PYTHON=python%s), or start the program with `refscope run`",
                (long)t->pid, version, RS_PYTHON_VERSION, version, version);
}

/* Appends text to a string under construction, escaped for a quoted
 * string of the language: Python '...' or a C/gdb "...". */
static void append_escaped(char *buf, size_t len, const char *text, char quote)
{
    size_t at = strlen(buf);
    for (; *text && at + 3 < len; text++) {
        if (*text == '\\' || *text == quote) {
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

/* The Python that gdb runs in the target.  exec() in a fresh namespace, so
 * that nothing lands in the program's __main__; the hotkey is the first
 * signal the program leaves alone; a failure goes to error_file, not to
 * the program's stderr. */
static void injected_code(char *buf, size_t len, const char *parent, const char *error_file)
{
    char code[8192] = "import signal, sys\n"
                      "try:\n"
                      "    d = '";
    append_escaped(code, sizeof code, parent, '\'');
    strncat(code, "'\n"
                  "    if d and d not in sys.path: sys.path.append(d)\n"
                  "    import refscope\n"
                  "    free = [s for s in (signal.SIGUSR1, signal.SIGUSR2, *range(signal.SIGRTMIN, signal.SIGRTMAX))\n"
                  "            if signal.getsignal(s) == signal.SIG_DFL]\n"
                  "    if not free: raise refscope.Error('every signal refscope could use has a handler already')\n"
                  "    refscope.install(free[0])\n"
                  "except BaseException as e:\n"
                  "    with open('",
            sizeof code - strlen(code) - 1);
    append_escaped(code, sizeof code, error_file, '\'');
    strncat(code, "', 'w') as f: f.write('%s: %s' % (type(e).__name__, e))\n", sizeof code - strlen(code) - 1);
    char statement[12288] = "exec('";
    append_escaped(statement, sizeof statement, code, '\'');
    strncat(statement, "', {})", sizeof statement - strlen(statement) - 1);
    snprintf(buf, len, "call (int)PyRun_SimpleString(\"");
    append_escaped(buf, len, statement, '"');
    strncat(buf, "\")", len - strlen(buf) - 1);
}

/* Runs gdb with argv, collecting its output into out; interrupts it (so
 * that it unwinds any call it made in the target) when it takes too long.
 * Returns 0 when gdb finished, -1 when it had to be stopped. */
static int run_gdb(char **argv, char *out, size_t out_len)
{
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) < 0)
        return -1;
    pid_t child = fork();
    if (child < 0) {
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        return -1;
    }
    if (child == 0) {
        dup2(pipe_fds[1], STDOUT_FILENO);
        dup2(pipe_fds[1], STDERR_FILENO);
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, STDIN_FILENO);
        setpgid(0, 0); /* Ctrl-C on our terminal must not hit gdb mid-call */
        execv(argv[0], argv);
        _exit(127);
    }
    close(pipe_fds[1]);
    size_t used = 0;
    int waited = 0, interrupted = 0;
    for (;;) {
        struct pollfd p = {.fd = pipe_fds[0], .events = POLLIN};
        int r = poll(&p, 1, 250);
        if (r > 0) {
            char chunk[4096];
            ssize_t n = read(pipe_fds[0], chunk, sizeof chunk);
            if (n <= 0)
                break;
            size_t keep = (size_t)n < out_len - 1 - used ? (size_t)n : out_len - 1 - used;
            memcpy(out + used, chunk, keep);
            used += keep;
            continue;
        }
        waited += 250;
        if (waited >= GDB_TIMEOUT_MS && interrupted == 0) {
            kill(child, SIGINT);
            interrupted = 1;
        } else if (waited >= GDB_TIMEOUT_MS + 10000 && interrupted == 1) {
            kill(child, SIGKILL);
            interrupted = 2;
        }
    }
    out[used] = '\0';
    close(pipe_fds[0]);
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    return interrupted ? -1 : 0;
}

/* Starts refscope's listener in t through gdb, as memray attach does: take
 * the GIL with PyGILState_Ensure, run `refscope.install()` with
 * PyRun_SimpleString, release the GIL, detach.  Only the listener goes in,
 * never the browser; the target is never left stopped. */
static int inject_listener(const target *t)
{
    char gdb[PATH_MAX];
    if (!find_program("gdb", gdb, sizeof gdb))
        return fail(EXIT_FAILED, "PID %ld has no refscope listener, and starting one needs gdb, which is not "
                    "installed: install gdb (sudo apt-get install gdb) and try again, or start the program with "
                    "`refscope run`, or have it call refscope.install()", (long)t->pid);
    char state = process_state(t->pid, NULL, NULL);
    if (state == 'T' || state == 't')
        return fail(EXIT_FAILED, "PID %ld is stopped; resume it (kill -CONT %ld) and try again", (long)t->pid,
                    (long)t->pid);
    int status = check_python(t);
    if (status != EXIT_DONE)
        return status;

    char error_file[] = "/tmp/refscope-inject-XXXXXX";
    int error_fd = mkstemp(error_file);
    if (error_fd < 0)
        return fail(EXIT_FAILED, "cannot create a temporary file in /tmp: %s", strerror(errno));
    if (geteuid() == 0 && t->uid != 0 && fchown(error_fd, t->uid, (gid_t)-1) < 0)
        note("cannot hand %s to uid %u: %s", error_file, (unsigned)t->uid, strerror(errno));
    close(error_fd);

    char parent[PATH_MAX], pid_text[32], call[16384], output[65536];
    package_parent(parent, sizeof parent);
    injected_code(call, sizeof call, parent, error_file);
    snprintf(pid_text, sizeof pid_text, "%ld", (long)t->pid);
    char *argv[] = {gdb, "-nx", "-q", "--batch", "-p", pid_text,
                    "-iex", "set debuginfod enabled off",
                    "-ex", "set unwindonsignal on",
                    "-ex", "call (int)PyGILState_Ensure()",
                    "-ex", call,
                    "-ex", "call (void)PyGILState_Release($1)",
                    "-ex", "detach", "-ex", "quit", NULL};
    note("PID %ld has no refscope listener; starting one with gdb (import refscope; refscope.install())",
         (long)t->pid);
    int timed_out = run_gdb(argv, output, sizeof output);
    state = process_state(t->pid, NULL, NULL);
    if (state == 'T' || state == 't')
        kill(t->pid, SIGCONT); /* gdb was stopped before it could detach */

    char message[1024] = "";
    FILE *f = fopen(error_file, "r");
    if (f != NULL) {
        size_t n = fread(message, 1, sizeof message - 1, f);
        message[n] = '\0';
        fclose(f);
    }
    unlink(error_file);
    if (strstr(output, "ptrace: Operation not permitted") != NULL) {
        char scope[8] = "";
        FILE *yama = fopen("/proc/sys/kernel/yama/ptrace_scope", "r");
        if (yama != NULL) {
            if (fgets(scope, sizeof scope, yama) != NULL)
                scope[strcspn(scope, "\n")] = '\0';
            fclose(yama);
        }
        return fail(EXIT_FAILED, "the system does not let gdb trace PID %ld (ptrace not permitted%s%s), so "
                    "refscope cannot start a listener in it: run refscope attach as root, or allow tracing "
                    "(sudo sysctl kernel.yama.ptrace_scope=0; in a container start it with --cap-add=SYS_PTRACE), "
                    "or start the program with `refscope run` or have it call refscope.install()",
                    (long)t->pid, scope[0] ? "; kernel.yama.ptrace_scope is " : "", scope);
    }
    if (strstr(output, "No symbol \"PyGILState_Ensure\"") != NULL || strstr(output, "No symbol table") != NULL)
        return fail(EXIT_FAILED, "gdb found no Python C API in PID %ld (PyGILState_Ensure), so it is not a "
                    "compatible CPython %s; start the program with `refscope run` instead", (long)t->pid,
                    RS_PYTHON_VERSION);
    if (message[0] != '\0')
        return fail(EXIT_FAILED, "refscope.install() failed inside PID %ld: %s%s", (long)t->pid, message,
                    strstr(message, "ModuleNotFoundError") != NULL
                        ? " (install refscope for that program's Python, or run it with `refscope run`)"
                        : "");
    if (timed_out)
        return fail(EXIT_FAILED, "gdb did not finish within %d s in PID %ld (a thread may hold the GIL and never "
                    "release it); PID %ld was left running", GDB_TIMEOUT_MS / 1000, (long)t->pid, (long)t->pid);
    if (strstr(output, "$2 = 0") == NULL) {
        size_t len = strlen(output);
        return fail(EXIT_FAILED, "gdb could not run refscope.install() in PID %ld; gdb said:\n%s", (long)t->pid,
                    len > 2000 ? output + len - 2000 : output);
    }
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
    int status = inject_listener(t);
    if (status != EXIT_DONE)
        return status;
    for (int tries = 0; tries < 60; tries++) {
        if ((r = target_connect(t, fd, err, sizeof err)) == CONNECTED)
            return EXIT_DONE;
        if (r != NO_LISTENER)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
    }
    return fail(EXIT_FAILED, "refscope.install() ran in PID %ld, but its socket is not there%s%s", (long)t->pid,
                r == NO_LISTENER ? "" : ": ", r == NO_LISTENER ? "" : err);
}

/* --- refscope attach ------------------------------------------------------------ */

static volatile sig_atomic_t got_interrupt, got_winch;

static void on_signal(int signum)
{
    if (signum == SIGWINCH)
        got_winch = 1;
    else
        got_interrupt = 1;
}

/* Puts the terminal back after a target that died with the browser open:
 * the saved modes, then the xterm sequences that undo what curses set
 * (every terminal emulator in use speaks them; unknown ones are ignored). */
static void restore_terminal(int tty, const struct termios *saved)
{
    static const char reset[] = "\033[?1000l\033[?1002l\033[?1003l\033[?1006l" /* mouse reports off */
                                "\033[?1l\033>"                             /* normal cursor keys, keypad */
                                "\033[0m\033[?25h"                          /* plain text, cursor shown */
                                "\033[?1049l\r\n";                          /* leave the alternate screen */
    tcsetattr(tty, TCSAFLUSH, saved);
    ssize_t ignored = write(tty, reset, sizeof reset - 1);
    (void)ignored;
}

static long elapsed_ms(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* Sends the attach request with the terminal and waits until the browser
 * is done.  While the target owns the terminal this process reads nothing
 * from it and ignores the keyboard signals. */
static int attach_wait(int conn, int tty, const target *t)
{
    struct winsize ws = {0};
    ioctl(tty, TIOCGWINSZ, &ws);
    const char *term = getenv("TERM");
    if (term == NULL || term[0] == '\0' || strlen(term) >= RS_ATTACH_TERM_MAX || strchr(term, ' ') != NULL)
        return fail(EXIT_FAILED, "TERM is unset or unusual here ('%s'); set it to your terminal's type, such as "
                    "xterm-256color", term ? term : "");
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
    memcpy(CMSG_DATA(c), &tty, sizeof tty);

    struct termios saved;
    bool have_saved = tcgetattr(tty, &saved) == 0;
    /* Signals arrive only inside ppoll(), so none is lost between checks. */
    sigset_t block, waiting;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGWINCH);
    sigprocmask(SIG_BLOCK, &block, &waiting);
    sigdelset(&waiting, SIGINT);
    sigdelset(&waiting, SIGWINCH);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGWINCH, &sa, NULL);

    /* A target in the background of this very terminal (its session is
     * the terminal's) would be stopped by SIGTTOU as soon as curses set the
     * terminal's modes: it becomes the foreground job, as with `fg`, until
     * the browser closes. */
    long target_group = 0, target_session = 0;
    pid_t own_group = tcgetpgrp(tty);
    bool handed_over = false;
    signal(SIGTTOU, SIG_IGN);
    process_state(t->pid, &target_group, &target_session);
    if (target_session > 0 && target_session == (long)tcgetsid(tty) && target_group > 0 &&
        target_group != own_group && tcsetpgrp(tty, (pid_t)target_group) == 0)
        handed_over = true;

    ssize_t sent;
    do
        sent = sendmsg(conn, &msg, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    if (sent < 0) {
        if (handed_over)
            tcsetpgrp(tty, own_group);
        return fail(EXIT_FAILED, "cannot send the terminal to PID %ld: %s", (long)t->pid, strerror(errno));
    }

    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    bool open = false, cancelling = false, noticed = false;
    int status = -1;
    while (status < 0) {
        struct pollfd p = {.fd = conn, .events = POLLIN};
        int r = ppoll(&p, 1, &(struct timespec){.tv_nsec = 250 * 1000 * 1000}, &waiting);
        if (got_winch) {
            got_winch = 0;
            if (open)
                rs_attach_send(conn, "winch");
        }
        if (got_interrupt) {
            got_interrupt = 0;
            if (!open && !cancelling) {
                rs_attach_send(conn, "cancel");
                cancelling = true;
            }
        }
        if (!open && !noticed && elapsed_ms(&start) > NOTICE_AFTER_MS) {
            note("PID %ld has not opened the browser after %d s: its main thread has not run Python code since "
                 "(it is busy in C code, or blocked in a call that does not return on signals), or the program "
                 "replaced refscope's signal handler; still waiting, Ctrl-C gives up",
                 (long)t->pid, NOTICE_AFTER_MS / 1000);
            noticed = true;
        }
        if (r <= 0)
            continue;
        char record[RS_ATTACH_RECORD_MAX];
        ssize_t n = rs_attach_recv(conn, record, sizeof record);
        if (n <= 0) {
            if (open && have_saved)
                restore_terminal(tty, &saved);
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
        } else if (rs_attach_is(record, "done")) {
            if (have_saved)
                tcsetattr(tty, TCSADRAIN, &saved);
            status = EXIT_DONE;
        } else if (rs_attach_is(record, "cancelled")) {
            status = fail(EXIT_FAILED, "gave up waiting; PID %ld is unchanged", (long)t->pid);
        } else if (rs_attach_is(record, "error")) {
            if (open && have_saved)
                restore_terminal(tty, &saved);
            status = fail(EXIT_FAILED, "PID %ld: %s", (long)t->pid, record + 6);
        }
    }
    if (handed_over)
        tcsetpgrp(tty, own_group);
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
    printf("refscope: PID %ld wrote %s (%lld bytes); refscope report %s reads it anywhere\n", (long)t.pid, path,
           stat(path, &st) == 0 ? (long long)st.st_size : -1LL, out);
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
     "  -s, --signal SIG  the hotkey signal, by name (USR2) or number\n"
     "  -q, --quiet       do not print the PID and how to open the browser\n"
     "The environment variable REFSCOPE_PYTHON chooses the Python (default " RS_PYTHON_EXE ")."},
    {"attach", cmd_attach, "attach PID",
     "Open the browser of process PID on this terminal; q in the browser returns here.\n"
     "When PID never called refscope.install(), refscope starts its listener through gdb\n"
     "(which needs ptrace permission).  The program keeps running after the browser closes."},
    {"report", cmd_report, "report [--json] [--top N] (PID | FILE)",
     "Print the leak-suspects report of process PID (text, or JSON with --json;\n"
     "--top N rows per section, default 10).  Needs no terminal.  Given a dump FILE, the\n"
     "report a dump can answer: largest holders, types, cycles, garbage, closures."},
    {"dump", cmd_dump, "dump PID -o FILE",
     "Make process PID write a heap dump to FILE (through its listener, started with\n"
     "gdb when it has none).  refscope.load(FILE), refscope report FILE and refscope diff\n"
     "read it on any machine, without the process."},
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
