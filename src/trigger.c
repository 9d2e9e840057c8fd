/*
 * The hotkey signal and the attach listener (DESIGN.md section 8).
 *
 * The hotkey is a C builtin installed with signal.signal(), not a
 * sigaction handler plus Py_AddPendingCall: Python runs it in the main
 * thread as soon as the signal interrupts whatever the main thread waits
 * in (time.sleep, select, accept, a lock), and PEP 475 retries that call
 * afterwards; a pending call would wait until the blocking call returned
 * by itself.  The handler runs the browser right there, so the browser
 * sees the program stopped at a safe point.
 *
 * The attach listener is a plain pthread with every signal blocked.  It
 * sleeps in poll() on the socket and its clients, never holding the GIL
 * while it waits and never waiting for one client (see "Connections being
 * read or written"), checks each client with SO_PEERCRED, receives the
 * client's terminal with SCM_RIGHTS (the slave side of a pseudo-terminal
 * the `refscope` command relays; when that command dies, the browser reads
 * a hang-up and ends), parks the request and wakes the main thread with
 * the hotkey signal
 * (pthread_kill, so that the main thread's blocking call is the one
 * interrupted).  The handler finds the request and runs the browser on
 * that terminal.  Meanwhile the listener reads the connection: "winch"
 * becomes SIGWINCH for the main thread, where curses' resize handler reads
 * the new size from the terminal.  Reports need no terminal and no main
 * thread: the listener takes the GIL itself and writes them.
 *
 * Ownership: the listener closes every connection.  The main thread takes
 * a parked request under the lock, only sends on it, and hands it back
 * (session_done) when the browser has closed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "browser.h"
#include "dump.h"
#include "module.h"
#include "pyinternal.h"
#include "trigger.h"
#include "ui.h"

/* An attach request: the client's connection and terminal. */
typedef struct request {
    int conn_fd; /* -1 = none */
    int tty_fd;
    char term[RS_ATTACH_TERM_MAX];
} request;

#define NO_REQUEST ((request){.conn_fd = -1, .tty_fd = -1})

static struct {
    pthread_mutex_t lock;
    /* Touched with the GIL held only. */
    int signum;          /* the hotkey signal installed, 0 = none */
    PyObject *handler;   /* our handler function */
    PyObject *previous;  /* what signal.signal() returned when we installed */
    bool hooks_registered;
    /* Under lock. */
    bool browsing;       /* the browser is open from a trigger */
    bool woken;          /* the listener signalled the main thread since the handler last ran */
    int wake_signum;
    pthread_t main_thread;
    bool listening;      /* the listener thread exists */
    bool stopping;
    pthread_t thread;
    int listen_fd;
    int wake_pipe[2];    /* a byte here makes the listener look at the state again */
    request pending;     /* parked for the main thread */
    request session;     /* the browser runs on this client's terminal */
    bool session_watch;  /* the listener still reads the session's connection */
    bool session_done;   /* the browser closed: the listener closes the session */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
} trig = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .listen_fd = -1,
    .wake_pipe = {-1, -1},
    .pending = {.conn_fd = -1, .tty_fd = -1},
    .session = {.conn_fd = -1, .tty_fd = -1},
};

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void close_request(request *r)
{
    close_fd(&r->conn_fd);
    close_fd(&r->tty_fd);
}

static void wake_listener(void)
{
    if (trig.wake_pipe[1] >= 0) {
        ssize_t ignored = write(trig.wake_pipe[1], "", 1);
        (void)ignored; /* a full pipe already means "look again" */
    }
}

/* --- The listener thread --------------------------------------------------- */

/* Receives the first record of a connection and the descriptor sent with
 * it (*fd, -1 when none; any extra descriptors are closed). */
static ssize_t recv_request(int conn, char *buf, size_t len, int *fd)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(4 * sizeof(int))];
    } control;
    struct iovec iov = {.iov_base = buf, .iov_len = len - 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    ssize_t n;
    *fd = -1;
    do
        n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    buf[n > 0 ? n : 0] = '\0';
    for (struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR(&msg) : NULL; c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int received;
            memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof received);
            if (*fd < 0)
                *fd = received;
            else
                close(received);
        }
    }
    return n;
}

/* One sentence for the exception set, which is cleared. */
static void exception_sentence(char *buf, size_t len)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    PyObject *text = value != NULL ? PyObject_Str(value) : NULL;
    const char *s = text != NULL ? PyUnicode_AsUTF8(text) : NULL;
    const char *name = type != NULL ? ((PyTypeObject *)type)->tp_name : "error";
    if (type == rs_error && s != NULL)
        snprintf(buf, len, "%s", s);
    else
        snprintf(buf, len, "%s: %s", name, s != NULL ? s : "(no message)");
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    PyErr_Clear();
    Py_XDECREF(text);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

/* The report text (UTF-8, malloc'd) for format and top, or NULL with a
 * sentence in err.  Takes the GIL. */
static char *make_report(const char *format, int top, size_t *len, char *err, size_t err_len)
{
    char *text = NULL;
    if (rs_py_is_finalizing()) {
        snprintf(err, err_len, "the program is exiting");
        return NULL;
    }
    PyGILState_STATE gil = PyGILState_Ensure();
    /* refscope.report() itself, called from C: no code compiled for the
     * request, so no frame or code object of the listener's shows in the
     * report it makes (or in growth since a mark). */
    PyObject *result = NULL;
    PyObject *module = PyImport_ImportModule("refscope");
    PyObject *fn = module != NULL ? PyObject_GetAttrString(module, "report") : NULL;
    PyObject *args = fn != NULL ? PyTuple_New(0) : NULL;
    PyObject *kwargs = args != NULL ? Py_BuildValue("{s:s,s:i}", "format", format, "top", top) : NULL;
    if (kwargs != NULL)
        result = PyObject_Call(fn, args, kwargs);
    Py_XDECREF(kwargs);
    Py_XDECREF(args);
    Py_XDECREF(fn);
    Py_XDECREF(module);
    Py_ssize_t size = 0;
    const char *utf8 = result != NULL && PyUnicode_Check(result) ? PyUnicode_AsUTF8AndSize(result, &size) : NULL;
    if (utf8 != NULL && (text = malloc((size_t)size + 1)) != NULL) {
        memcpy(text, utf8, (size_t)size + 1);
        *len = (size_t)size;
    } else if (PyErr_Occurred()) {
        exception_sentence(err, err_len);
    } else {
        snprintf(err, err_len, utf8 != NULL ? "out of memory" : "refscope.report() did not write text");
    }
    Py_XDECREF(result);
    PyGILState_Release(gil);
    return text;
}

/* --- Connections being read or written ------------------------------------ */

/* The listener serves many connections at once from one poll(), none of
 * them able to hold it: a new connection has REQUEST_TIMEOUT_MS to send
 * its request, a report's reader REPORT_STALL_MS to take each record, and
 * when CONNECTION_MAX are open the oldest one still silent makes room, so
 * a flood of silent or never-reading clients delays a real request by a
 * few poll rounds, not by their timeouts.  Every socket is non-blocking:
 * nothing here, in the main thread or under the lock ever waits for a
 * client. */
#define CONNECTION_MAX 32
#define REQUEST_TIMEOUT_MS 3000
#define REPORT_STALL_MS 5000

typedef struct connection {
    int fd;
    long deadline;  /* CLOCK_MONOTONIC ms */
    char *text;     /* the report being sent; NULL while the request is awaited */
    size_t len, at; /* its length and how much went out */
} connection;

/* Listener thread only (and the at-fork child). */
static struct {
    connection items[CONNECTION_MAX];
    int count;
} conns;

static long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void connection_drop(int i)
{
    close_fd(&conns.items[i].fd);
    free(conns.items[i].text);
    conns.items[i] = conns.items[--conns.count];
}

static void connections_drop_all(void)
{
    while (conns.count > 0)
        connection_drop(conns.count - 1);
}

/* The last report made, handed out again for the same request within
 * REPORT_REUSE_MS: a burst of identical requests costs one snapshot. */
#define REPORT_REUSE_MS 2000
static struct {
    char format[8];
    int top;
    long made;
    char *text;
    size_t len;
} last_report;

static void last_report_clear(void)
{
    free(last_report.text);
    last_report.text = NULL;
}

/* A malloc'd copy of the report for format and top (fresh, or the last
 * one when recent), or NULL with a sentence in err. */
static char *report_text(const char *format, int top, size_t *len, char *err, size_t err_len)
{
    if (last_report.text == NULL || last_report.top != top || strcmp(last_report.format, format) != 0 ||
        now_ms() - last_report.made > REPORT_REUSE_MS) {
        last_report_clear();
        last_report.text = make_report(format, top, &last_report.len, err, err_len);
        if (last_report.text == NULL)
            return NULL;
        snprintf(last_report.format, sizeof last_report.format, "%s", format);
        last_report.top = top;
        last_report.made = now_ms();
    }
    char *copy = malloc(last_report.len + 1);
    if (copy == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    memcpy(copy, last_report.text, last_report.len + 1);
    *len = last_report.len;
    return copy;
}

/* Makes the report for a connection; it is then sent as the socket takes
 * it.  false when the connection is finished (an error was sent). */
static bool report_start(connection *c, const char *format, int top)
{
    char err[1024];
    size_t len = 0;
    char *text = report_text(format, top, &len, err, sizeof err);
    if (text == NULL) {
        rs_attach_send(c->fd, "error the report failed: %s", err);
        return false;
    }
    if (rs_attach_send(c->fd, "report") < 0) {
        free(text);
        return false;
    }
    c->text = text;
    c->len = len;
    c->at = 0;
    c->deadline = now_ms() + REPORT_STALL_MS;
    return true;
}

/* Sends what the socket takes of a report.  false when it is finished
 * (all sent, or the reader is gone). */
static bool report_continue(connection *c)
{
    while (c->at < c->len) {
        size_t chunk = c->len - c->at < RS_ATTACH_RECORD_MAX - 1 ? c->len - c->at : RS_ATTACH_RECORD_MAX - 1;
        if (rs_attach_send(c->fd, "%.*s", (int)chunk, c->text + c->at) < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK;
        c->at += chunk;
        c->deadline = now_ms() + REPORT_STALL_MS;
    }
    return false;
}

/* Writes a heap dump of the program to path (absolute) under the GIL and
 * answers "dumped PATH" or "error SENTENCE". */
static void serve_dump(int conn, const char *path)
{
    char err[1024] = "the program is exiting";
    bool ok = false;
    if (!rs_py_is_finalizing()) {
        PyGILState_STATE gil = PyGILState_Ensure();
        rs_snapshot *s = rs_snapshot_take(false, NULL, NULL);
        ok = s != NULL && rs_dump_write(s, path) == 0;
        if (!ok)
            exception_sentence(err, sizeof err);
        rs_snapshot_free(s);
        PyGILState_Release(gil);
    }
    if (ok)
        rs_attach_send(conn, "dumped %s", path);
    else
        rs_attach_send(conn, "error the dump failed: %s", err);
}

/* Parks an attach request for the main thread and wakes it; the request's
 * descriptors belong to the state (or are closed) afterwards. */
static void queue_attach(request req)
{
    if (req.tty_fd < 0 || !isatty(req.tty_fd)) {
        rs_attach_send(req.conn_fd, "error the attach request carried no terminal; run refscope attach "
                                    "from an interactive terminal");
        close_request(&req);
        return;
    }
    pthread_mutex_lock(&trig.lock);
    bool busy = trig.browsing || trig.pending.conn_fd >= 0 || trig.session.conn_fd >= 0;
    if (busy || trig.stopping) {
        rs_attach_send(req.conn_fd, busy ? "error the browser is already open in PID %ld (from another "
                                           "refscope attach or the hotkey); try again when it is closed"
                                         : "error PID %ld is uninstalling refscope",
                       (long)getpid());
        close_request(&req);
        pthread_mutex_unlock(&trig.lock);
        return;
    }
    trig.pending = req;
    trig.woken = true;
    pthread_t main_thread = trig.main_thread;
    int signum = trig.wake_signum;
    pthread_mutex_unlock(&trig.lock);
    pthread_kill(main_thread, signum);
}

/* Reads the request of connection c, which poll() found readable, and
 * acts on it.  false when c is finished with (closed, or handed over to
 * the attach state). */
static bool handle_request(connection *c)
{
    request req = {.conn_fd = c->fd, .tty_fd = -1};
    char record[RS_ATTACH_RECORD_MAX];
    struct ucred cred;
    socklen_t cred_len = sizeof cred;
    /* The request is read before anything is answered, because closing a
     * unix socket with unread data makes the client's read fail with
     * ECONNRESET instead of showing our answer. */
    ssize_t n = recv_request(c->fd, record, sizeof record, &req.tty_fd);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return true;
    if (n <= 0 || getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) < 0) {
        close_fd(&req.tty_fd);
        return false;
    }
    if (cred.uid != geteuid() && cred.uid != 0) {
        rs_attach_send(c->fd, "error refused: PID %ld runs as uid %u and lets only that user or root "
                              "attach, and you are uid %u; run refscope as that user or as root",
                       (long)getpid(), (unsigned)geteuid(), (unsigned)cred.uid);
        close_fd(&req.tty_fd);
        return false;
    }
    char command[16] = "", format[8] = "text";
    int rows = 0, cols = 0, top = 10;
    if (sscanf(record, RS_ATTACH_MAGIC " %15s", command) == 1 && strcmp(command, "attach") == 0 &&
        sscanf(record, RS_ATTACH_MAGIC " attach %d %d %63s", &rows, &cols, req.term) == 3) {
        c->fd = -1; /* the attach state owns it now */
        queue_attach(req);
        return false;
    }
    close_fd(&req.tty_fd);
    if (strcmp(command, "report") == 0 && sscanf(record, RS_ATTACH_MAGIC " report %7s %d", format, &top) == 2 &&
        (strcmp(format, "text") == 0 || strcmp(format, "json") == 0) && top > 0)
        return report_start(c, format, top) && report_continue(c);
    if (strncmp(record, RS_ATTACH_MAGIC " dump /", strlen(RS_ATTACH_MAGIC " dump /")) == 0) {
        serve_dump(c->fd, record + strlen(RS_ATTACH_MAGIC " dump "));
        return false;
    }
    rs_attach_send(c->fd, "error PID %ld does not understand this request; use the refscope command of the "
                          "same version as the refscope module in the program",
                   (long)getpid());
    return false;
}

/* Takes every connection waiting in the backlog; when the table is full,
 * the oldest connection that has not sent its request goes first (a
 * connection whose report is being sent stays: it has been served). */
static void accept_clients(int listen_fd)
{
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return;
        if (conns.count == CONNECTION_MAX) {
            int oldest = -1;
            for (int i = 0; i < conns.count; i++)
                if (conns.items[i].text == NULL &&
                    (oldest < 0 || conns.items[i].deadline < conns.items[oldest].deadline))
                    oldest = i;
            if (oldest < 0) {
                close(fd); /* every slot sends a report: this client tries again later */
                continue;
            }
            connection_drop(oldest);
        }
        conns.items[conns.count++] = (connection){.fd = fd, .deadline = now_ms() + REQUEST_TIMEOUT_MS};
    }
}

/* A record (or end of stream) from the client of the parked request or of
 * the running browser. */
static void client_message(int conn)
{
    char record[64];
    ssize_t n = rs_attach_recv(conn, record, sizeof record);
    pthread_mutex_lock(&trig.lock);
    bool parked = trig.pending.conn_fd == conn;
    if (n <= 0 && !(n < 0 && errno == EAGAIN)) {
        /* The client is gone: drop a parked request; a running browser
         * keeps its terminal until the user leaves it. */
        if (parked)
            close_request(&trig.pending);
        else
            trig.session_watch = false;
    } else if (rs_attach_is(record, "cancel") && parked) {
        rs_attach_send(conn, "cancelled");
        close_request(&trig.pending);
    } else if (rs_attach_is(record, "winch") && !parked && trig.browsing) {
        pthread_kill(trig.main_thread, SIGWINCH);
    }
    pthread_mutex_unlock(&trig.lock);
}

static void *listener_main(void *arg)
{
    (void)arg;
    struct pollfd fds[3 + CONNECTION_MAX];
    for (;;) {
        pthread_mutex_lock(&trig.lock);
        if (trig.stopping) {
            pthread_mutex_unlock(&trig.lock);
            break;
        }
        if (trig.session_done) {
            close_request(&trig.session);
            trig.session_done = trig.session_watch = false;
        }
        int watch = trig.pending.conn_fd >= 0 ? trig.pending.conn_fd
                    : trig.session_watch     ? trig.session.conn_fd
                                             : -1;
        pthread_mutex_unlock(&trig.lock);
        fds[0] = (struct pollfd){.fd = trig.listen_fd, .events = POLLIN};
        fds[1] = (struct pollfd){.fd = trig.wake_pipe[0], .events = POLLIN};
        fds[2] = (struct pollfd){.fd = watch, .events = POLLIN};
        long now = now_ms(), timeout = -1;
        if (last_report.text != NULL && now - last_report.made > REPORT_REUSE_MS)
            last_report_clear(); /* no report text kept longer than it may be reused */
        else if (last_report.text != NULL)
            timeout = last_report.made + REPORT_REUSE_MS + 1 - now;
        for (int i = 0; i < conns.count; i++) {
            connection *c = &conns.items[i];
            fds[3 + i] = (struct pollfd){.fd = c->fd, .events = c->text != NULL ? POLLOUT : POLLIN};
            long left = c->deadline > now ? c->deadline - now : 0;
            if (timeout < 0 || left < timeout)
                timeout = left;
        }
        int count = conns.count;
        if (poll(fds, 3 + (nfds_t)count, (int)timeout) < 0)
            continue; /* EINTR cannot happen (signals blocked); EAGAIN: try again */
        if (fds[1].revents) {
            char drain[64];
            ssize_t ignored = read(trig.wake_pipe[0], drain, sizeof drain);
            (void)ignored;
        }
        if (watch >= 0 && fds[2].revents)
            client_message(watch);
        /* Backwards, so that dropping one (the last moves into its slot)
         * leaves the ones still to look at where they were. */
        now = now_ms();
        for (int i = count - 1; i >= 0; i--) {
            connection *c = &conns.items[i];
            bool keep = true;
            if (fds[3 + i].revents)
                keep = c->text != NULL ? report_continue(c) : handle_request(c);
            if (!keep || c->deadline <= now)
                connection_drop(i);
        }
        if (fds[0].revents & POLLIN)
            accept_clients(trig.listen_fd);
    }
    connections_drop_all();
    last_report_clear();
    return NULL;
}

/* Starts the listener (GIL held).  0, or -1 with a sentence in err. */
static int listener_start(char *err, size_t err_len)
{
    char dir[sizeof trig.path];
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (trig.listening)
        return 0;
    if (rs_attach_dir(dir, sizeof dir, geteuid(), getenv("XDG_RUNTIME_DIR"), getenv("TMPDIR")) < 0 ||
        rs_attach_socket_path(trig.path, sizeof trig.path, dir, getpid()) < 0) {
        snprintf(err, err_len, "the socket path is too long for a unix socket; set TMPDIR to a short path");
        return -1;
    }
    if (rs_attach_prepare_dir(dir, err, err_len) < 0)
        return -1;
    rs_attach_remove_stale(dir);
    /* The socket is bound under a temporary name and renamed into place
     * once it listens: a client that finds PID.sock and is refused takes
     * it for a dead process's socket and removes it, so PID.sock must
     * never exist before listen(). */
    int len = snprintf(addr.sun_path, sizeof addr.sun_path, "%s.new", trig.path);
    if (len < 0 || (size_t)len >= sizeof addr.sun_path) {
        snprintf(err, err_len, "the socket path is too long for a unix socket; set TMPDIR to a short path");
        trig.path[0] = '\0';
        return -1;
    }
    unlink(addr.sun_path);
    trig.listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (trig.listen_fd < 0 || bind(trig.listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        chmod(addr.sun_path, 0600) < 0 || listen(trig.listen_fd, 64) < 0 ||
        rename(addr.sun_path, trig.path) < 0 || pipe2(trig.wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        snprintf(err, err_len, "cannot listen on %s: %s", trig.path, strerror(errno));
        if (trig.listen_fd >= 0)
            unlink(addr.sun_path);
        goto error;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&trig.thread, NULL, listener_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, err_len, "cannot start the listener thread: %s", strerror(rc));
        goto error;
    }
    pthread_setname_np(trig.thread, "refscope-listen");
    trig.listening = true;
    return 0;
error:
    if (trig.listen_fd >= 0)
        unlink(trig.path);
    close_fd(&trig.listen_fd);
    close_fd(&trig.wake_pipe[0]);
    close_fd(&trig.wake_pipe[1]);
    trig.path[0] = '\0';
    return -1;
}

/* Stops the listener and removes the socket (GIL held; released while
 * waiting for the thread, which may need it to finish a report). */
static void listener_stop(void)
{
    pthread_mutex_lock(&trig.lock);
    if (!trig.listening) {
        pthread_mutex_unlock(&trig.lock);
        return;
    }
    trig.stopping = true;
    wake_listener();
    pthread_mutex_unlock(&trig.lock);
    Py_BEGIN_ALLOW_THREADS
    pthread_join(trig.thread, NULL);
    Py_END_ALLOW_THREADS
    pthread_mutex_lock(&trig.lock);
    unlink(trig.path);
    trig.path[0] = '\0';
    close_fd(&trig.listen_fd);
    close_fd(&trig.wake_pipe[0]);
    close_fd(&trig.wake_pipe[1]);
    if (trig.pending.conn_fd >= 0)
        rs_attach_send(trig.pending.conn_fd, "error refscope was uninstalled in PID %ld before the browser "
                                             "opened", (long)getpid());
    close_request(&trig.pending);
    if (!trig.browsing) {
        close_request(&trig.session);
        trig.session_done = trig.session_watch = false;
    }
    trig.listening = trig.stopping = false;
    pthread_mutex_unlock(&trig.lock);
}

/* --- The hotkey -------------------------------------------------------------- */

/* Ends a browser run: the listener closes an attach session, or the main
 * thread does when there is no listener any more. */
static void end_browsing(request *req)
{
    pthread_mutex_lock(&trig.lock);
    trig.browsing = false;
    if (req->conn_fd >= 0) {
        if (trig.listening) {
            trig.session_done = true;
            wake_listener();
        } else {
            close_request(&trig.session);
            trig.session_watch = false;
        }
    }
    pthread_mutex_unlock(&trig.lock);
}

/* The signal handler, called by Python in the main thread: runs the
 * browser on the terminal of a parked attach request, or on the
 * controlling terminal.  Exceptions from the browser never reach the
 * program, except SystemExit and KeyboardInterrupt, which the user asked
 * for; the others go to the attach client or to sys.unraisablehook. */
static PyObject *hotkey(PyObject *Py_UNUSED(self), PyObject *args)
{
    int signum;
    PyObject *frame;
    if (!PyArg_ParseTuple(args, "iO:refscope_hotkey", &signum, &frame))
        return NULL;
    request req = NO_REQUEST;
    pthread_mutex_lock(&trig.lock);
    /* ui_is_open(): refscope.browse() is open, and a hotkey is ignored then too. */
    bool busy = trig.browsing || ui_is_open(), woken = trig.woken;
    if (busy && trig.pending.conn_fd >= 0) {
        /* Only refscope.browse() gets here (the listener refuses requests
         * while a trigger's browser is open), so the session slot is free
         * to hand the request back to the listener for closing. */
        rs_attach_send(trig.pending.conn_fd, "error the browser is already open in PID %ld (refscope.browse()); "
                                             "try again when it is closed", (long)getpid());
        if (trig.listening) {
            trig.session = trig.pending;
            trig.session_done = true;
            wake_listener();
        } else {
            close_request(&trig.pending);
        }
        trig.pending = NO_REQUEST;
        trig.woken = false;
    }
    if (!busy) {
        trig.woken = false;
        if (trig.pending.conn_fd >= 0) {
            req = trig.session = trig.pending;
            trig.pending = NO_REQUEST;
            trig.session_watch = true;
        }
        /* A wake-up whose request was cancelled meanwhile is no hotkey. */
        trig.browsing = req.conn_fd >= 0 || !woken;
    }
    pthread_mutex_unlock(&trig.lock);
    if (busy || (req.conn_fd < 0 && woken))
        Py_RETURN_NONE;

    rs_browser_options options = {
        .tty_fd = req.tty_fd, .term = req.conn_fd >= 0 ? req.term : NULL, .own_call = args};
    PyObject *globals = NULL, *locals = NULL;
    if (PyFrame_Check(frame)) {
        options.caller_frame = frame;
        options.eval_globals = globals = PyFrame_GetGlobals((PyFrameObject *)frame);
        options.eval_locals = locals = PyFrame_GetLocals((PyFrameObject *)frame);
        if (locals == NULL)
            PyErr_Clear(); /* :eval then runs in the globals alone */
        /* The frame (alive for the whole call) holds its globals and its
         * locals dict: borrow them, so the snapshot shows no reference of
         * ours.  A locals proxy (3.13) lives only through this reference. */
        Py_CLEAR(globals);
        if (locals != NULL && PyDict_Check(locals))
            Py_CLEAR(locals);
    }
    if (req.conn_fd >= 0)
        rs_attach_send(req.conn_fd, "open");
    int rc = rs_browser_run(&options);
    if (rc < 0 && !PyErr_Occurred())
        PyErr_SetString(rs_error, "the browser failed without saying why");
    Py_XDECREF(globals);
    Py_XDECREF(locals);
    PyObject *result = Py_None;
    if (rc < 0 && !PyErr_ExceptionMatches(PyExc_Exception)) {
        result = NULL;
        if (req.conn_fd >= 0)
            rs_attach_send(req.conn_fd, "error the browser ended with %s, which PID %ld now handles (it may exit)",
                           ((PyTypeObject *)PyErr_Occurred())->tp_name, (long)getpid());
    } else if (rc < 0 && req.conn_fd >= 0) {
        char sentence[1024];
        exception_sentence(sentence, sizeof sentence);
        rs_attach_send(req.conn_fd, "error %s", sentence);
    } else if (rc < 0) {
        char sentence[1024];
        exception_sentence(sentence, sizeof sentence);
        PyErr_Format(rs_error, "the hotkey could not open the browser: %s; from a terminal, `refscope attach %ld` "
                               "opens it there", sentence, (long)getpid());
        PyErr_WriteUnraisable(trig.handler);
    } else if (req.conn_fd >= 0) {
        rs_attach_send(req.conn_fd, "done");
    }
    end_browsing(&req);
    return Py_XNewRef(result);
}

static PyMethodDef hotkey_def = {"refscope_hotkey", hotkey, METH_VARARGS,
                                 "refscope's signal handler: opens the browser (see refscope.install)."};

/* Puts back the handler install() replaced, unless the program has
 * replaced ours since.  0, or -1 with an exception set. */
static int hotkey_remove(void)
{
    int rc = -1;
    PyObject *current = NULL, *restored = NULL;
    PyObject *signal_module = PyImport_ImportModule("signal");
    if (signal_module == NULL)
        return -1;
    current = PyObject_CallMethod(signal_module, "getsignal", "i", trig.signum);
    if (current == NULL)
        goto error;
    if (current == trig.handler) {
        /* None: the old handler was not set from Python and cannot be put
         * back from here, so the default comes back. */
        PyObject *previous = trig.previous != NULL && trig.previous != Py_None
                                 ? Py_NewRef(trig.previous)
                                 : PyObject_GetAttrString(signal_module, "SIG_DFL");
        if (previous != NULL)
            restored = PyObject_CallMethod(signal_module, "signal", "iO", trig.signum, previous);
        Py_XDECREF(previous);
        if (restored == NULL)
            goto error;
    }
    Py_CLEAR(trig.previous);
    trig.signum = 0;
    rc = 0;
error:
    Py_XDECREF(restored);
    Py_XDECREF(current);
    Py_DECREF(signal_module);
    return rc;
}

/* Makes signum the hotkey: a no-op when it already is and ours is still
 * installed.  0, or -1 with an exception set. */
static int hotkey_set(int signum)
{
    PyObject *signal_module = PyImport_ImportModule("signal");
    PyObject *current = NULL, *previous = NULL;
    int rc = -1;
    if (signal_module == NULL)
        return -1;
    if (trig.signum == signum) {
        current = PyObject_CallMethod(signal_module, "getsignal", "i", signum);
        if (current == NULL)
            goto error;
        if (current == trig.handler)
            goto remember_thread;
    } else if (trig.signum != 0 && hotkey_remove() < 0) {
        goto error;
    }
    if (trig.handler == NULL && (trig.handler = PyCFunction_New(&hotkey_def, NULL)) == NULL)
        goto error;
    previous = PyObject_CallMethod(signal_module, "signal", "iO", signum, trig.handler);
    if (previous == NULL)
        goto error;
    /* After a takeover by the program, uninstall() puts back the program's. */
    Py_XSETREF(trig.previous, previous);
    trig.signum = signum;
remember_thread:
    /* Always: after a fork from another thread, that thread is the main
     * thread of the child, and install() there must make it the one woken. */
    pthread_mutex_lock(&trig.lock);
    trig.wake_signum = signum;
    trig.main_thread = pthread_self();
    pthread_mutex_unlock(&trig.lock);
    rc = 0;
error:
    Py_XDECREF(current);
    Py_DECREF(signal_module);
    return rc;
}

/* --- Exit and fork ------------------------------------------------------------ */

static PyObject *at_exit(PyObject *Py_UNUSED(self), PyObject *Py_UNUSED(ignored))
{
    listener_stop();
    Py_RETURN_NONE;
}

static PyMethodDef at_exit_def = {"refscope_at_exit", at_exit, METH_NOARGS,
                                  "Removes refscope's attach socket when the program exits."};

static void fork_prepare(void)
{
    pthread_mutex_lock(&trig.lock);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&trig.lock);
}

/* The child has no listener thread: it closes the parent's descriptors
 * (without removing the parent's socket) and keeps only the hotkey. */
static void fork_child(void)
{
    pthread_mutex_init(&trig.lock, NULL);
    /* The forking thread is the only one left, and Python makes it the
     * main thread: the hotkey wakes it from now on, not the parent's main
     * thread (whose handle means nothing here). */
    trig.main_thread = pthread_self();
    trig.browsing = trig.woken = false;
    connections_drop_all();
    last_report_clear();
    if (!trig.listening)
        return;
    close_fd(&trig.listen_fd);
    close_fd(&trig.wake_pipe[0]);
    close_fd(&trig.wake_pipe[1]);
    close_request(&trig.pending);
    close_request(&trig.session);
    trig.path[0] = '\0';
    trig.listening = trig.stopping = trig.session_watch = trig.session_done = false;
}

static int register_hooks(void)
{
    if (trig.hooks_registered)
        return 0;
    PyObject *atexit = PyImport_ImportModule("atexit");
    PyObject *fn = atexit != NULL ? PyCFunction_New(&at_exit_def, NULL) : NULL;
    PyObject *result = fn != NULL ? PyObject_CallMethod(atexit, "register", "O", fn) : NULL;
    Py_XDECREF(fn);
    Py_XDECREF(atexit);
    if (result == NULL)
        return -1;
    Py_DECREF(result);
    if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0) {
        PyErr_NoMemory();
        return -1;
    }
    trig.hooks_registered = true;
    return 0;
}

/* --- The module functions ---------------------------------------------------- */

PyObject *rs_trigger_install(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"signum", NULL};
    int signum = SIGUSR1;
    char err[512];
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|i:install", keywords, &signum))
        return NULL;
    if (!rs_attach_hotkey_signal_ok(signum)) {
        const char *name = signum > 0 && signum < NSIG ? sigabbrev_np(signum) : NULL;
        PyErr_Format(rs_error, "refscope.install() cannot use signal %d%s%s%s: the hotkey must be "
                     RS_ATTACH_HOTKEY_SIGNALS ", which mean nothing else to the program or the system",
                     signum, name != NULL ? " (SIG" : "", name != NULL ? name : "", name != NULL ? ")" : "");
        return NULL;
    }
    if (!rs_py_is_main_thread()) {
        PyErr_SetString(rs_error, "refscope.install() must be called from the main thread, where Python "
                                  "runs signal handlers");
        return NULL;
    }
    if (register_hooks() < 0)
        return NULL;
    bool was_installed = trig.signum != 0;
    if (hotkey_set(signum) < 0)
        return NULL;
    if (listener_start(err, sizeof err) < 0) {
        if (!was_installed && hotkey_remove() < 0)
            PyErr_Clear();
        PyErr_Format(rs_error, "refscope.install(): %s", err);
        return NULL;
    }
    return PyUnicode_FromString(trig.path);
}

PyObject *rs_trigger_uninstall(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    listener_stop();
    if (trig.signum != 0 && hotkey_remove() < 0)
        return NULL;
    Py_RETURN_NONE;
}
