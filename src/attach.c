/*
 * Attach socket paths and records, shared by the target and the client
 * (see attach.h).  The socket directory is the only thing that keeps other
 * users away before SO_PEERCRED is even checked, so it must be a real
 * directory, ours, mode 0700, never a symlink someone else planted in /tmp.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "attach.h"

int rs_attach_dir(char *buf, size_t len, uid_t uid, const char *xdg_runtime_dir, const char *tmpdir)
{
    struct stat st;
    int n;
    if (xdg_runtime_dir != NULL && xdg_runtime_dir[0] == '/' && stat(xdg_runtime_dir, &st) == 0 &&
        S_ISDIR(st.st_mode) && st.st_uid == uid)
        n = snprintf(buf, len, "%s/refscope", xdg_runtime_dir);
    else
        n = snprintf(buf, len, "%s/refscope-%u",
                     tmpdir != NULL && tmpdir[0] == '/' ? tmpdir : "/tmp", (unsigned)uid);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int rs_attach_socket_path(char *buf, size_t len, const char *dir, pid_t pid)
{
    size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
    int n = snprintf(buf, len, "%s/%ld.sock", dir, (long)pid);
    return n < 0 || (size_t)n >= len || (size_t)n >= max ? -1 : 0;
}

int rs_attach_prepare_dir(const char *dir, char *err, size_t err_len)
{
    struct stat st;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        snprintf(err, err_len, "cannot create the socket directory %s: %s; set XDG_RUNTIME_DIR or TMPDIR "
                 "to a directory you can write", dir, strerror(errno));
        return -1;
    }
    if (lstat(dir, &st) < 0) {
        snprintf(err, err_len, "cannot check the socket directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
        snprintf(err, err_len, "the socket directory %s is not a directory of yours (it may be a trap left "
                 "by another user); remove it, or set XDG_RUNTIME_DIR or TMPDIR elsewhere", dir);
        return -1;
    }
    if ((st.st_mode & 0777) != 0700 && chmod(dir, 0700) < 0) {
        snprintf(err, err_len, "cannot make the socket directory %s private (mode 0700): %s", dir,
                 strerror(errno));
        return -1;
    }
    return 0;
}

bool rs_attach_hotkey_signal_ok(int signum)
{
    return signum == SIGUSR1 || signum == SIGUSR2 || signum == SIGQUIT || (signum >= SIGRTMIN && signum <= SIGRTMAX);
}

int rs_attach_open_dir(const char *dir, uid_t uid)
{
    struct stat st;
    int fd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != uid || (st.st_mode & 022) != 0) {
        close(fd);
        errno = EPERM;
        return -1;
    }
    return fd;
}

int rs_attach_unlink_socket(int dir_fd, const char *name, uid_t uid)
{
    struct stat st;
    if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return -1;
    if (!S_ISSOCK(st.st_mode) || st.st_uid != uid) {
        errno = EPERM;
        return -1;
    }
    /* Whatever the owner swaps in meanwhile sits in the owner's own
     * directory: only that name can go, never a file of ours elsewhere. */
    return unlinkat(dir_fd, name, 0);
}

bool rs_attach_pid_dead(pid_t pid)
{
    return kill(pid, 0) < 0 && errno == ESRCH;
}

/* The PID of a "PID.sock" name, or 0 for any other name. */
static pid_t socket_name_pid(const char *name)
{
    char *end;
    if (name[0] < '1' || name[0] > '9')
        return 0;
    long pid = strtol(name, &end, 10);
    return strcmp(end, ".sock") == 0 && pid > 0 && pid == (pid_t)pid ? (pid_t)pid : 0;
}

int rs_attach_remove_stale(const char *dir)
{
    int removed = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        pid_t pid = socket_name_pid(entry->d_name);
        if (pid == 0 || (pid != getpid() && !rs_attach_pid_dead(pid)))
            continue;
        if (unlinkat(dirfd(d), entry->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

int rs_attach_send(int fd, const char *fmt, ...)
{
    char record[RS_ATTACH_RECORD_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(record, sizeof record, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    size_t len = (size_t)n < sizeof record ? (size_t)n : sizeof record - 1;
    ssize_t sent;
    do
        sent = send(fd, record, len, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    return sent < 0 ? -1 : 0;
}

ssize_t rs_attach_recv(int fd, char *buf, size_t len)
{
    ssize_t n;
    do
        n = recv(fd, buf, len - 1, 0);
    while (n < 0 && errno == EINTR);
    /* A peer that closed while our last record was unread reports
     * ECONNRESET once; what it sent before is still there to read. */
    if (n < 0 && errno == ECONNRESET) {
        n = recv(fd, buf, len - 1, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            n = 0;
    }
    buf[n > 0 ? n : 0] = '\0';
    return n;
}

bool rs_attach_is(const char *record, const char *word)
{
    size_t n = strlen(word);
    return strncmp(record, word, n) == 0 && (record[n] == '\0' || record[n] == ' ');
}
