/*
 * What the target (trigger.c, inside the module) and the `refscope`
 * client (cli.c) share: where a process's attach socket lives and how
 * its messages look.  Plain C, no Python.h, so both can link it.
 *
 * The socket is a SOCK_SEQPACKET unix socket: every send is one record,
 * read whole by one recv, so messages need no framing.
 *
 *   client -> target, first record:
 *     "REFSCOPE1 attach ROWS COLS TERM"    with the terminal fd (SCM_RIGHTS)
 *     "REFSCOPE1 report text|json TOP"
 *     "REFSCOPE1 dump PATH"                 write a heap dump to PATH (absolute)
 *   client -> target, later (attach): "winch" (the terminal was resized),
 *     "cancel" (give up before the browser opened)
 *   target -> client:
 *     "open"             the browser now owns the terminal
 *     "done"             the browser closed and restored the terminal
 *     "cancelled"        the request was dropped, nothing happened
 *     "error SENTENCE"   refused or failed; the sentence says what to do
 *     "report"           followed by records of report text until EOF
 *     "dumped PATH"      the heap dump is written
 */
#ifndef REFSCOPE_ATTACH_H
#define REFSCOPE_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define RS_ATTACH_MAGIC "REFSCOPE1"
/* Largest record either side sends; receivers use a buffer this big. */
#define RS_ATTACH_RECORD_MAX 4096
/* Longest TERM value carried in an attach request. */
#define RS_ATTACH_TERM_MAX 64

/* Writes into buf the directory that holds the attach sockets of user uid,
 * given that user's XDG_RUNTIME_DIR and TMPDIR values (NULL = unset):
 * "$XDG_RUNTIME_DIR/refscope" when that is an absolute directory owned by
 * uid, else "${TMPDIR:-/tmp}/refscope-UID".  Returns 0, or -1 when the
 * path does not fit. */
int rs_attach_dir(char *buf, size_t len, uid_t uid, const char *xdg_runtime_dir, const char *tmpdir);

/* Writes "DIR/PID.sock" into buf.  Returns 0, or -1 when it does not fit
 * in a unix socket address. */
int rs_attach_socket_path(char *buf, size_t len, const char *dir, pid_t pid);

/* Creates dir with mode 0700, or checks that an existing one is a real
 * directory owned by the effective user (and makes it 0700).  Returns 0,
 * or -1 with a sentence saying what to do in err. */
int rs_attach_prepare_dir(const char *dir, char *err, size_t err_len);

/* Removes "PID.sock" entries of dir whose process no longer exists, and
 * the one named after this process (left by an earlier process with the
 * same PID).  Returns the number removed. */
int rs_attach_remove_stale(const char *dir);

/* true when signum is safe as a hotkey: SIGUSR1, SIGUSR2, SIGQUIT (Ctrl-\\)
 * or a real-time signal.  Others either mean something to the program or
 * the kernel (SIGSEGV, SIGCHLD, SIGTSTP, SIGINT, ...) or cannot be caught. */
bool rs_attach_hotkey_signal_ok(int signum);

/* The sentence naming the signals rs_attach_hotkey_signal_ok() accepts. */
#define RS_ATTACH_HOTKEY_SIGNALS "SIGUSR1, SIGUSR2, SIGQUIT or a real-time signal (SIGRTMIN to SIGRTMAX)"

/* Opens dir as the socket directory of user uid, for a client that may
 * run as another user (root): it must be a directory owned by uid that
 * no one else may write, reached without following a symlink at its last
 * component.  Returns an O_PATH descriptor (connect through
 * /proc/self/fd/N/NAME, unlink with rs_attach_unlink_socket), or -1 with
 * errno set (ENOTDIR, EPERM when the owner or mode is wrong). */
int rs_attach_open_dir(const char *dir, uid_t uid);

/* Removes name from the directory dir_fd when it is a socket owned by uid
 * (never a symlink or anything else).  Returns 0, or -1 with errno set
 * (EPERM when it is not such a socket). */
int rs_attach_unlink_socket(int dir_fd, const char *name, uid_t uid);

/* true when no process with this PID exists. */
bool rs_attach_pid_dead(pid_t pid);

/* Sends one record of formatted text (cut to RS_ATTACH_RECORD_MAX - 1
 * bytes), never raising SIGPIPE.  Returns 0, or -1 with errno set. */
int rs_attach_send(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Receives one record into buf as a NUL-terminated string, retrying on
 * EINTR (and reading past a reset, see attach.c).  Returns its length, 0
 * at end of stream, or -1 with errno set. */
ssize_t rs_attach_recv(int fd, char *buf, size_t len);

/* true when record is the message word, alone or followed by a space. */
bool rs_attach_is(const char *record, const char *word);

#endif
