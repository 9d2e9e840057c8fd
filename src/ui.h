/*
 * The terminal: the only interface to curses.  ui.c opens a curses screen
 * on a given terminal (never stdin/stdout), restores it on every exit
 * path, reads keys with the GIL released, and offers the few drawing
 * primitives the views use.  Nothing else in refscope includes curses.h.
 */
#ifndef REFSCOPE_UI_H
#define REFSCOPE_UI_H

#include <stdbool.h>
#include <stddef.h>

/* Key codes beyond plain characters (which are their Unicode code point). */
enum ui_key {
    UI_KEY_NONE = -1,     /* nothing arrived (timeout, signal): check and go on */
    UI_KEY_ESC = 27,
    UI_KEY_ENTER = 13,
    UI_KEY_TAB = 9,
    UI_KEY_CTRL_C = 3,
    UI_KEY_BASE = 0x110000, /* above every code point */
    UI_KEY_UP,
    UI_KEY_DOWN,
    UI_KEY_LEFT,
    UI_KEY_RIGHT,
    UI_KEY_PAGE_UP,
    UI_KEY_PAGE_DOWN,
    UI_KEY_HOME,
    UI_KEY_END,
    UI_KEY_BACKSPACE,
    UI_KEY_DELETE,
    UI_KEY_RESIZE,
    UI_KEY_HANGUP, /* the terminal is gone (EOF, EIO, hang-up): the browser must end */
    UI_KEY_MOUSE, /* details in ui_last_mouse() */
    UI_KEY_F1,
    UI_KEY_F10 = UI_KEY_F1 + 9,
};

typedef enum ui_mouse_kind { UI_MOUSE_CLICK, UI_MOUSE_WHEEL_UP, UI_MOUSE_WHEEL_DOWN, UI_MOUSE_OTHER } ui_mouse_kind;

typedef struct ui_mouse {
    ui_mouse_kind kind;
    int row, col;
} ui_mouse;

/* Looks of a piece of text; each maps to colour and/or bold/reverse so that
 * a monochrome terminal still tells them apart. */
typedef enum ui_style {
    UI_NORMAL,
    UI_TITLE,     /* the top line */
    UI_HEADING,   /* section headings, column headers */
    UI_SELECTED,  /* the cursor row */
    UI_DIM,       /* secondary text */
    UI_FLAG,      /* the row flags */
    UI_STATUS,    /* the status line */
    UI_ERROR,     /* an error on the status line */
    UI_BAR_KEY,   /* key names in the function bar */
    UI_BAR_LABEL, /* their labels */
    UI_MATCH,     /* filter prompt */
    UI_STYLE_COUNT
} ui_style;

/* Opens curses on tty_fd (duplicated; -1 = open /dev/tty) with terminal
 * type term (NULL = $TERM).  Returns 0, or -1 with a sentence in err
 * (no terminal, unknown TERM, already open).  Signal handlers are saved
 * here and put back by ui_close(). */
int ui_open(int tty_fd, const char *term, char *err, size_t err_len);

/* Ends curses and restores the terminal and the signal handlers; safe to
 * call when not open. */
void ui_close(void);

/* true between ui_open() and ui_close(). */
bool ui_is_open(void);

/* Current size of the terminal. */
void ui_size(int *rows, int *cols);

/* true when the terminal shows UTF-8 (flags use ⟳ † ◆ ✗, else letters). */
bool ui_unicode(void);

/* Waits up to timeout_ms for a key with the GIL released (the caller holds
 * it).  Returns a character, a UI_KEY_*, or UI_KEY_NONE on timeout or an
 * interrupted read (the caller checks signals and goes on). */
int ui_read_key(int timeout_ms);

/* true when the terminal has input waiting to be read (one poll, the GIL
 * kept): long work looks for Esc without waiting on other threads. */
bool ui_input_pending(void);

/* true when more keys are already waiting (typed ahead or pasted): the
 * caller may skip drawing until it has handled them. */
bool ui_key_pending(void);

/* Ctrl-Z: when the terminal is the program's controlling terminal and its
 * job is in the foreground, puts the terminal back, stops the job like
 * any full-screen program, and on `fg` takes the terminal again (the next
 * ui_end() repaints all).  false, with nothing done, on another terminal
 * (attach: the client suspends itself instead). */
bool ui_suspend(void);

/* While the caller runs Python code that may take long (:eval), a helper
 * thread watches the terminal: Ctrl-C calls on_interrupt(ctx) from that
 * thread, without the GIL (raw mode turns Ctrl-C into a key, so no SIGINT
 * comes).  Other keys typed meanwhile are kept for ui_read_key().  Returns
 * 0, or -1 when no thread could be started (then Ctrl-C is not seen). */
int ui_interrupt_watch_start(void (*on_interrupt)(void *ctx), void *ctx);

/* Stops the watch started by ui_interrupt_watch_start() and hands the
 * keys it read back to curses.  Call with the GIL released if
 * on_interrupt may take it. */
void ui_interrupt_watch_stop(void);

/* The mouse event behind the last UI_KEY_MOUSE. */
ui_mouse ui_last_mouse(void);

/* Starts a frame: clears the off-screen picture. */
void ui_begin(void);

/* Writes UTF-8 text at (row, col) in style, cut to at most width columns
 * (wide characters counted); returns the columns used.  Text must already
 * be safe (no control characters); any left are shown as '?'. */
int ui_text(int row, int col, int width, ui_style style, const char *text);

/* Paints width columns at (row, col) blank in style. */
void ui_fill(int row, int col, int width, ui_style style);

/* Puts the terminal cursor at (row, col) and shows it, or hides it with
 * row < 0 (the default for each frame). */
void ui_cursor(int row, int col);

/* Ends a frame: puts the picture on the terminal. */
void ui_end(void);

/* Makes the next ui_end() repaint the whole terminal (Ctrl-L). */
void ui_invalidate(void);

/* Columns that UTF-8 text takes on the terminal. */
int ui_text_width(const char *text);

/* Byte length of the longest prefix of text that fits in width columns. */
size_t ui_text_fit(const char *text, int width);

/* Puts text on the terminal's clipboard with an OSC 52 sequence (the
 * terminal may ignore it).  false when the terminal is not open or memory
 * runs out. */
bool ui_clipboard(const char *text);

/* Keeps one line to write on the terminal when ui_close() has restored it
 * (the last call wins); silently dropped when memory runs out. */
void ui_farewell(const char *text);

#endif
