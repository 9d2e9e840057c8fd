/*
 * The only file that calls curses (see ui.h).  The browser runs inside the
 * process it inspects, so the terminal it draws on is not the process's
 * stdin/stdout (those may be redirected or in use): it is the terminal fd
 * handed to ui_open() or /dev/tty, through newterm().  newterm() installs
 * its own signal handlers and leaves them after delscreen(), so the caller's
 * handlers are saved before and put back after.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define NCURSES_WIDECHAR 1
#include <curses.h>

#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <unistd.h>
#include <wchar.h>

#include "ui.h"

static const int saved_signals[] = {SIGINT, SIGTERM, SIGTSTP, SIGWINCH, SIGQUIT};
#define SAVED_SIGNAL_COUNT (sizeof saved_signals / sizeof saved_signals[0])

static struct {
    SCREEN *screen;
    SCREEN *previous; /* the program's own curses screen, if it has one */
    FILE *in, *out;
    int fd;          /* our own descriptor for the terminal */
    struct sigaction old_actions[SAVED_SIGNAL_COUNT];
    bool unicode;
    bool color;
    attr_t styles[UI_STYLE_COUNT];
    ui_mouse mouse;
    bool hung_up;
    char *farewell; /* a line for the terminal after the screen is gone */
} ui = {.fd = -1};

/* The Ctrl-C watch during :eval (see ui_interrupt_watch_start). */
static struct {
    bool running;
    pthread_t thread;
    int stop_pipe[2];
    void (*on_interrupt)(void *ctx);
    void *ctx;
    unsigned char keys[256]; /* other keys read meanwhile, for curses */
    size_t key_count;
} watch = {.stop_pipe = {-1, -1}};

static void save_signals(void)
{
    for (size_t i = 0; i < SAVED_SIGNAL_COUNT; i++)
        sigaction(saved_signals[i], NULL, &ui.old_actions[i]);
}

static void restore_signals(void)
{
    for (size_t i = 0; i < SAVED_SIGNAL_COUNT; i++)
        sigaction(saved_signals[i], &ui.old_actions[i], NULL);
}

/* Chooses an attribute per style: colour when the terminal has it and
 * NO_COLOR is unset, and always bold/reverse so monochrome stays readable. */
static void setup_styles(void)
{
    const char *no_color = getenv("NO_COLOR");
    ui.color = has_colors() && (no_color == NULL || no_color[0] == '\0');
    attr_t base[UI_STYLE_COUNT] = {
        [UI_NORMAL] = A_NORMAL,    [UI_TITLE] = A_REVERSE | A_BOLD, [UI_HEADING] = A_BOLD,
        [UI_SELECTED] = A_REVERSE, [UI_DIM] = A_NORMAL,             [UI_FLAG] = A_BOLD,
        [UI_STATUS] = A_NORMAL,    [UI_ERROR] = A_BOLD,             [UI_BAR_KEY] = A_BOLD,
        [UI_BAR_LABEL] = A_REVERSE, [UI_MATCH] = A_BOLD,
    };
    memcpy(ui.styles, base, sizeof base);
    if (!ui.color)
        return;
    start_color();
    use_default_colors();
    init_pair(1, COLOR_BLUE, -1);
    init_pair(2, COLOR_YELLOW, -1);
    init_pair(3, COLOR_RED, -1);
    init_pair(4, COLOR_BLACK, COLOR_CYAN);
    init_pair(5, COLOR_CYAN, -1);
    init_pair(6, COLOR_WHITE, COLOR_BLUE);
    ui.styles[UI_HEADING] |= COLOR_PAIR(1);
    ui.styles[UI_FLAG] |= COLOR_PAIR(2);
    ui.styles[UI_ERROR] |= COLOR_PAIR(3);
    ui.styles[UI_BAR_LABEL] = COLOR_PAIR(4);
    ui.styles[UI_DIM] |= COLOR_PAIR(5);
    ui.styles[UI_TITLE] = COLOR_PAIR(6) | A_BOLD;
}

static int fail(char *err, size_t err_len, const char *message)
{
    snprintf(err, err_len, "%s", message);
    return -1;
}

int ui_open(int tty_fd, const char *term, char *err, size_t err_len)
{
    if (ui.screen != NULL)
        return fail(err, err_len, "the browser is already open on a terminal; leave it first");
    int fd = tty_fd >= 0 ? fcntl(tty_fd, F_DUPFD_CLOEXEC, 3) : open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 || !isatty(fd)) {
        if (fd >= 0)
            close(fd);
        return fail(err, err_len,
                    tty_fd >= 0 ? "no terminal: the given file descriptor is not a terminal; "
                                  "use refscope.report() for a text report instead"
                                : "no terminal: this process has no controlling terminal; "
                                  "use refscope.report() for a text report instead");
    }
    if (term == NULL || term[0] == '\0')
        term = getenv("TERM");
    if (term == NULL || term[0] == '\0' || strcmp(term, "dumb") == 0) {
        close(fd);
        return fail(err, err_len, "no terminal: TERM is unset or 'dumb', so the screen cannot be drawn; "
                                  "set TERM or use refscope.report()");
    }
    int fd2 = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    ui.in = fdopen(fd, "r");
    ui.out = fd2 >= 0 ? fdopen(fd2, "w") : NULL;
    if (ui.in == NULL || ui.out == NULL) {
        if (ui.in != NULL)
            fclose(ui.in);
        else
            close(fd);
        if (ui.out != NULL)
            fclose(ui.out);
        else if (fd2 >= 0)
            close(fd2);
        ui.in = ui.out = NULL;
        return fail(err, err_len, "no terminal: cannot open the terminal's streams");
    }
    ui.fd = fd;
    ui.hung_up = false;
    const char *codeset = nl_langinfo(CODESET);
    ui.unicode = codeset != NULL && (strcasecmp(codeset, "UTF-8") == 0 || strcasecmp(codeset, "utf8") == 0);
    save_signals();
    /* newterm() makes its screen current: remember the program's own. */
    ui.previous = set_term(NULL);
    ui.screen = newterm(term, ui.out, ui.in);
    if (ui.screen == NULL) {
        if (ui.previous != NULL)
            set_term(ui.previous);
        ui.previous = NULL;
        restore_signals();
        fclose(ui.in);
        fclose(ui.out);
        ui.in = ui.out = NULL;
        ui.fd = -1;
        snprintf(err, err_len, "no terminal: terminal type '%s' is unknown here; set TERM or use refscope.report()",
                 term);
        return -1;
    }
    set_term(ui.screen);
    /* raw: Ctrl-C and Ctrl-\ arrive as keys instead of killing the program. */
    raw();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    mousemask(BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON4_PRESSED | BUTTON5_PRESSED, NULL);
    mouseinterval(0);
    setup_styles();
    return 0;
}

void ui_close(void)
{
    if (ui.screen == NULL)
        return;
    mousemask(0, NULL);
    curs_set(1);
    endwin();
    if (ui.farewell != NULL) {
        fprintf(ui.out, "%s\n", ui.farewell);
        fflush(ui.out);
        free(ui.farewell);
        ui.farewell = NULL;
    }
    if (ui.previous == NULL) {
        delscreen(ui.screen);
    } else {
        /* delscreen() with another screen alive breaks that screen (the
         * program's own curses crashes in wrefresh()): keep ours, switch. */
        set_term(ui.previous);
    }
    ui.screen = NULL;
    ui.previous = NULL;
    restore_signals();
    fclose(ui.in);
    fclose(ui.out);
    ui.in = ui.out = NULL;
    ui.fd = -1;
}

bool ui_is_open(void)
{
    return ui.screen != NULL;
}

void ui_size(int *rows, int *cols)
{
    int r, c;
    getmaxyx(stdscr, r, c);
    *rows = r;
    *cols = c;
}

bool ui_unicode(void)
{
    return ui.unicode;
}

static int map_function_key(wint_t key)
{
    switch (key) {
    case KEY_UP: return UI_KEY_UP;
    case KEY_DOWN: return UI_KEY_DOWN;
    case KEY_LEFT: return UI_KEY_LEFT;
    case KEY_RIGHT: return UI_KEY_RIGHT;
    case KEY_PPAGE: return UI_KEY_PAGE_UP;
    case KEY_NPAGE: return UI_KEY_PAGE_DOWN;
    case KEY_HOME: case KEY_A1: return UI_KEY_HOME;
    case KEY_END: case KEY_C1: return UI_KEY_END;
    case KEY_BACKSPACE: return UI_KEY_BACKSPACE;
    case KEY_DC: return UI_KEY_DELETE;
    case KEY_ENTER: return UI_KEY_ENTER;
    case KEY_RESIZE: return UI_KEY_RESIZE;
    case KEY_MOUSE: {
        MEVENT ev;
        if (getmouse(&ev) != OK)
            return UI_KEY_NONE;
        ui.mouse.row = ev.y;
        ui.mouse.col = ev.x;
        if (ev.bstate & BUTTON4_PRESSED)
            ui.mouse.kind = UI_MOUSE_WHEEL_UP;
        else if (ev.bstate & BUTTON5_PRESSED)
            ui.mouse.kind = UI_MOUSE_WHEEL_DOWN;
        else if (ev.bstate & (BUTTON1_CLICKED | BUTTON1_PRESSED))
            ui.mouse.kind = UI_MOUSE_CLICK;
        else
            ui.mouse.kind = UI_MOUSE_OTHER;
        return UI_KEY_MOUSE;
    }
    default:
        if (key >= KEY_F(1) && key <= KEY_F(10))
            return UI_KEY_F1 + (int)(key - KEY_F(1));
        return UI_KEY_NONE;
    }
}

bool ui_input_pending(void)
{
    struct pollfd p = {.fd = ui.fd, .events = POLLIN};
    return ui.screen != NULL && poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

int ui_read_key(int timeout_ms)
{
    if (ui.screen == NULL)
        return UI_KEY_NONE;
    wint_t key = 0;
    int r;
    wtimeout(stdscr, timeout_ms);
    /* The other threads of the program run while we wait, like under pdb. */
    Py_BEGIN_ALLOW_THREADS
    r = wget_wch(stdscr, &key);
    Py_END_ALLOW_THREADS
    if (r == ERR) {
        /* A terminal that hung up (its window closed, the attach client
         * died) reads EOF at once, forever: without this check the browser
         * would redraw in a busy loop and never return to the program. */
        struct pollfd p = {.fd = ui.fd, .events = POLLIN};
        if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL))) {
            ui.hung_up = true;
            return UI_KEY_HANGUP;
        }
        /* ncurses installs its SIGWINCH handler once per process, and we
         * restore the program's handler on close, so from the second
         * browser on a resize is never reported: ask the terminal itself. */
        struct winsize ws;
        if (ioctl(ui.fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0 &&
            (ws.ws_row != LINES || ws.ws_col != COLS)) {
            resizeterm(ws.ws_row, ws.ws_col);
            return UI_KEY_RESIZE;
        }
        return UI_KEY_NONE; /* timeout or EINTR: the caller checks signals */
    }
    if (r == KEY_CODE_YES)
        return map_function_key(key);
    if (key == 127 || key == 8)
        return UI_KEY_BACKSPACE;
    if (key == '\n' || key == '\r')
        return UI_KEY_ENTER;
    return (int)key;
}

bool ui_key_pending(void)
{
    struct pollfd p = {.fd = ui.fd, .events = POLLIN};
    return ui.screen != NULL && poll(&p, 1, 0) > 0 && p.revents == POLLIN;
}

bool ui_suspend(void)
{
    if (ui.screen == NULL || ui.hung_up || tcgetsid(ui.fd) != getsid(0) || tcgetpgrp(ui.fd) != getpgrp())
        return false;
    endwin();
    /* The default action stops the job even when the program handles
     * SIGTSTP itself or curses' handler is installed; the whole process
     * group stops, as a shell's job does on Ctrl-Z. */
    struct sigaction stop = {.sa_handler = SIG_DFL}, old_action;
    sigemptyset(&stop.sa_mask);
    sigaction(SIGTSTP, &stop, &old_action);
    sigset_t tstp, old_mask;
    sigemptyset(&tstp);
    sigaddset(&tstp, SIGTSTP);
    pthread_sigmask(SIG_UNBLOCK, &tstp, &old_mask);
    kill(0, SIGTSTP);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(SIGTSTP, &old_action, NULL);
    /* Continued: the size may have changed, and the screen is the shell's. */
    struct winsize ws;
    if (ioctl(ui.fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
        resizeterm(ws.ws_row, ws.ws_col);
    clearok(curscr, TRUE);
    return true;
}

static void *watch_main(void *arg)
{
    (void)arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = ui.fd, .events = POLLIN}, {.fd = watch.stop_pipe[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0 || p[1].revents)
            break;
        if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL))
            break; /* the browser finds out when it reads next */
        unsigned char buf[64];
        ssize_t n = read(ui.fd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == UI_KEY_CTRL_C)
                watch.on_interrupt(watch.ctx);
            else if (watch.key_count < sizeof watch.keys)
                watch.keys[watch.key_count++] = buf[i];
        }
    }
    return NULL;
}

int ui_interrupt_watch_start(void (*on_interrupt)(void *ctx), void *ctx)
{
    if (ui.screen == NULL || watch.running || ui.hung_up || pipe2(watch.stop_pipe, O_CLOEXEC) < 0)
        return -1;
    watch.on_interrupt = on_interrupt;
    watch.ctx = ctx;
    watch.key_count = 0;
    /* Signals stay with the program's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&watch.thread, NULL, watch_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        close(watch.stop_pipe[0]);
        close(watch.stop_pipe[1]);
        watch.stop_pipe[0] = watch.stop_pipe[1] = -1;
        return -1;
    }
    watch.running = true;
    return 0;
}

void ui_interrupt_watch_stop(void)
{
    if (!watch.running)
        return;
    ssize_t ignored = write(watch.stop_pipe[1], "", 1);
    (void)ignored;
    pthread_join(watch.thread, NULL);
    close(watch.stop_pipe[0]);
    close(watch.stop_pipe[1]);
    watch.stop_pipe[0] = watch.stop_pipe[1] = -1;
    watch.running = false;
    /* ungetch() pushes in front: last key first. */
    while (watch.key_count > 0 && ui.screen != NULL)
        ungetch(watch.keys[--watch.key_count]);
}

ui_mouse ui_last_mouse(void)
{
    return ui.mouse;
}

void ui_begin(void)
{
    werase(stdscr);
    curs_set(0);
}

/* Decodes one UTF-8 character from *p (advancing it); invalid bytes give
 * U+FFFD. */
static wchar_t next_char(const char **p)
{
    const unsigned char *s = (const unsigned char *)*p;
    wchar_t c = s[0];
    int extra = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
    if (extra < 0) {
        (*p)++;
        return 0xFFFD;
    }
    c = extra == 0 ? c : extra == 1 ? (c & 0x1F) : extra == 2 ? (c & 0x0F) : (c & 0x07);
    for (int i = 1; i <= extra; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *p += i;
            return 0xFFFD;
        }
        c = (c << 6) | (s[i] & 0x3F);
    }
    *p += extra + 1;
    return c;
}

/* Columns of c on the terminal, and the character actually shown. */
static int char_width(wchar_t *c)
{
    if (*c < 0x20 || *c == 0x7f || (*c >= 0x80 && *c < 0xa0)) {
        *c = '?';
        return 1;
    }
    if (*c < 0x80)
        return 1;
    if (!ui.unicode) {
        *c = '?';
        return 1;
    }
    int w = wcwidth(*c);
    if (w < 0) {
        *c = '?';
        return 1;
    }
    return w;
}

int ui_text_width(const char *text)
{
    int width = 0;
    while (*text) {
        wchar_t c = next_char(&text);
        width += char_width(&c);
    }
    return width;
}

size_t ui_text_fit(const char *text, int width)
{
    const char *p = text;
    int used = 0;
    while (*p) {
        const char *start = p;
        wchar_t c = next_char(&p);
        int w = char_width(&c);
        if (used + w > width)
            return (size_t)(start - text);
        used += w;
    }
    return (size_t)(p - text);
}

int ui_text(int row, int col, int width, ui_style style, const char *text)
{
    if (ui.screen == NULL || width <= 0)
        return 0;
    wchar_t buf[512];
    int n = 0, used = 0;
    while (*text && n < (int)(sizeof buf / sizeof buf[0]) - 1) {
        wchar_t c = next_char(&text);
        int w = char_width(&c);
        if (used + w > width)
            break;
        if (w == 0 && n == 0)
            continue; /* a combining mark cannot start a cell */
        buf[n++] = c;
        used += w;
    }
    buf[n] = 0;
    attr_t attr = ui.styles[style];
    wattrset(stdscr, (int)attr);
    mvwaddnwstr(stdscr, row, col, buf, n);
    wattrset(stdscr, A_NORMAL);
    return used;
}

void ui_fill(int row, int col, int width, ui_style style)
{
    if (ui.screen == NULL || width <= 0)
        return;
    mvwhline(stdscr, row, col, ' ' | ui.styles[style], width);
}

void ui_cursor(int row, int col)
{
    if (ui.screen == NULL)
        return;
    if (row < 0) {
        curs_set(0);
        return;
    }
    wmove(stdscr, row, col);
    curs_set(1);
}

void ui_end(void)
{
    if (ui.screen == NULL)
        return;
    wnoutrefresh(stdscr);
    doupdate();
}

void ui_invalidate(void)
{
    if (ui.screen != NULL)
        clearok(curscr, TRUE);
}

bool ui_clipboard(const char *text)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (ui.screen == NULL)
        return false;
    size_t n = strlen(text);
    char *b64 = malloc(4 * (n / 3 + 1) + 1);
    if (b64 == NULL)
        return false;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)text[i] << 16;
        if (i + 1 < n)
            v |= (unsigned char)text[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)text[i + 2];
        b64[o++] = digits[(v >> 18) & 63];
        b64[o++] = digits[(v >> 12) & 63];
        b64[o++] = i + 1 < n ? digits[(v >> 6) & 63] : '=';
        b64[o++] = i + 2 < n ? digits[v & 63] : '=';
    }
    b64[o] = '\0';
    /* After curses has written its frame, so the sequence is not split. */
    fflush(ui.out);
    fprintf(ui.out, "\033]52;c;%s\a", b64);
    fflush(ui.out);
    free(b64);
    return true;
}

void ui_farewell(const char *text)
{
    char *copy = strdup(text);
    if (copy == NULL)
        return;
    free(ui.farewell);
    ui.farewell = copy;
}
