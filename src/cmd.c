/*
 * The command line on the bottom row: `:` commands and the `/` filter.
 * The line is edited here, inside curses (readline-style keys), because
 * libedit's own editor el_gets() wants the terminal to itself and fights
 * curses after endwin(); libedit still keeps the history (history(3),
 * saved in $XDG_STATE_HOME/refscope/history) and splits arguments with its
 * tokenizer (tok_str), so quoting works as in a shell.  Every command error
 * is one line on the status bar through rs_browser_error().
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <histedit.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "dump.h"
#include "module.h"
#include "module_analysis.h"
#include "refscope/dom.h"
#include "view.h"

/* The longest line, NUL included; more is refused with a message. */
#define LINE_MAX_BYTES 4096
#define HISTORY_SIZE 500

struct rs_cmdline {
    int kind; /* ':', '/' (filter) or 'f' (find) */
    char line[LINE_MAX_BYTES];
    size_t len, pos; /* bytes; pos always on a character boundary */
    History *history;
    HistEvent event;
    History *patterns; /* the / lines of this session (not saved) */
    bool browsing;   /* Up/Down walked into the history */
    char typed[LINE_MAX_BYTES]; /* the line before browsing */
    char path[PATH_MAX];
};

/* --- the command table --------------------------------------------------------- */

typedef int (*command_fn)(rs_browser *b, int argc, const char **argv, const char *rest);

static int cmd_type(rs_browser *b, int argc, const char **argv, const char *rest);
static int cmd_addr(rs_browser *b, int argc, const char **argv, const char *rest);
static int cmd_eval(rs_browser *b, int argc, const char **argv, const char *rest);
static int cmd_mark(rs_browser *b, int argc, const char **argv, const char *rest);
static int cmd_growth(rs_browser *b, int argc, const char **argv, const char *rest);
static int cmd_collect(rs_browser *b, int argc, const char **argv, const char *rest);
static int cmd_refresh(rs_browser *b, int argc, const char **argv, const char *rest);
static int cmd_save(rs_browser *b, int argc, const char **argv, const char *rest);
static int cmd_dump(rs_browser *b, int argc, const char **argv, const char *rest);
static int cmd_diff(rs_browser *b, int argc, const char **argv, const char *rest);
static int cmd_help(rs_browser *b, int argc, const char **argv, const char *rest);
static int cmd_quit(rs_browser *b, int argc, const char **argv, const char *rest);

/* live: the command needs the live process (its objects, a new
 * snapshot), so a browser on a heap dump refuses it. */
static const struct command {
    const char *name;
    const char *args;
    const char *help;
    command_fn run;
    bool live;
} commands[] = {
    {"type", "NAME", "the instances of a type (Tab completes names)", cmd_type, false},
    {"addr", "0xADDRESS", "the object at an address", cmd_addr, false},
    {"eval", "EXPR", "evaluate Python in the caller's namespace; an object in the snapshot opens", cmd_eval, true},
    {"mark", "", "remember every object now, for growth", cmd_mark, true},
    {"growth", "", "new snapshot and what grew since :mark", cmd_growth, true},
    {"collect", "", "gc.collect(), then a new snapshot", cmd_collect, true},
    {"refresh", "", "a new snapshot", cmd_refresh, true},
    {"save", "FILE", "write the snapshot as JSON, or FILE.dot: the object here as Graphviz", cmd_save, true},
    {"dump", "FILE", "write the snapshot as a heap dump (refscope.load, refscope report/diff FILE)", cmd_dump, true},
    {"diff", "", "what grew since the older dump (refscope open NEW --diff OLD)", cmd_diff, false},
    {"help", "", "every key and command", cmd_help, false},
    {"quit", "", "leave the browser", cmd_quit, false},
};
#define COMMAND_COUNT (sizeof commands / sizeof commands[0])

bool rs_command_info(size_t i, const char **name, const char **args, const char **help)
{
    if (i >= COMMAND_COUNT)
        return false;
    *name = commands[i].name;
    *args = commands[i].args;
    *help = commands[i].help;
    return true;
}

static int cmd_type(rs_browser *b, int argc, const char **argv, const char *rest)
{
    (void)rest;
    if (argc != 2) {
        rs_browser_error(b, ":type needs one type name, e.g. :type dict or :type app.Node (Tab completes)");
        return RS_REACT_REDRAW;
    }
    int64_t t = rs_snapshot_type_lookup(b->snap, argv[1]);
    if (t == -2)
        rs_browser_error(b, "type name '%s' is ambiguous; give its module too, e.g. app.%s", argv[1], argv[1]);
    else if (t < 0)
        rs_browser_error(b, "no objects of type '%s' in this snapshot; %s lists the types, Tab completes", argv[1],
                         rs_key_name(RS_ACTION_TYPES));
    else
        rs_browser_open(b, RS_SCREEN_INSTANCES, (uint64_t)t, 0);
    return RS_REACT_REDRAW;
}

static int cmd_addr(rs_browser *b, int argc, const char **argv, const char *rest)
{
    (void)rest;
    if (argc != 2) {
        rs_browser_error(b, ":addr needs one address, e.g. :addr 0x7f3a2c1b9e40");
        return RS_REACT_REDRAW;
    }
    char *end;
    errno = 0;
    unsigned long long addr = strtoull(argv[1], &end, 16);
    if (errno != 0 || end == argv[1] || *end != '\0' || addr == 0) {
        rs_browser_error(b, "'%s' is not an address; write it in hex, e.g. :addr 0x7f3a2c1b9e40", argv[1]);
        return RS_REACT_REDRAW;
    }
    rs_idx n = rs_graph_find(b->snap->graph, (uintptr_t)addr);
    if (n == RS_NONE || (rs_graph_flags(b->snap->graph, n) & RS_NODE_INTERNAL))
        rs_browser_error(b, "no object at 0x%llx in this snapshot (:refresh takes a new one)", addr);
    else
        rs_browser_open(b, RS_SCREEN_OBJECT, n, 0);
    return RS_REACT_REDRAW;
}

/* Ctrl-C during :eval (called by ui.c's watch thread, without the GIL):
 * KeyboardInterrupt in the thread that runs the code, which raw mode
 * would otherwise leave without a way to stop `while True: pass`.  The
 * exception shows on the status line and the browser goes on. */
static void interrupt_eval(void *ctx)
{
    unsigned long thread_id = *(unsigned long *)ctx;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyThreadState_SetAsyncExc(thread_id, PyExc_KeyboardInterrupt);
    PyGILState_Release(gil);
}

/* Runs code with sys.stdout/stderr captured (the terminal is ours); *output
 * gets what it printed (new str or NULL).  New reference, or NULL with the
 * code's exception set. */
static PyObject *run_captured(rs_browser *b, PyObject *code, PyObject **output)
{
    *output = NULL;
    PyObject *io = PyImport_ImportModule("io");
    PyObject *buffer = io ? PyObject_CallMethod(io, "StringIO", NULL) : NULL;
    PyObject *old_out = PySys_GetObject("stdout"), *old_err = PySys_GetObject("stderr");
    Py_XINCREF(old_out);
    Py_XINCREF(old_err);
    PyObject *result = NULL;
    PyObject *globals = b->globals ? b->globals : PyModule_GetDict(b->main_module);
    PyObject *locals = b->locals ? b->locals : globals;
    unsigned long thread_id = PyThread_get_thread_ident();
    if (buffer != NULL && PySys_SetObject("stdout", buffer) == 0 && PySys_SetObject("stderr", buffer) == 0) {
        bool watching = ui_interrupt_watch_start(interrupt_eval, &thread_id) == 0;
        result = PyEval_EvalCode(code, globals, locals);
        if (watching) {
            /* The watch thread may wait for the GIL to interrupt us. */
            Py_BEGIN_ALLOW_THREADS
            ui_interrupt_watch_stop();
            Py_END_ALLOW_THREADS
            /* A Ctrl-C that came as the code finished must not hit the
             * browser or the program later. */
            PyThreadState_SetAsyncExc(thread_id, NULL);
        }
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (old_out != NULL)
        PySys_SetObject("stdout", old_out);
    if (old_err != NULL)
        PySys_SetObject("stderr", old_err);
    if (buffer != NULL) {
        *output = PyObject_CallMethod(buffer, "getvalue", NULL);
        if (*output == NULL)
            PyErr_Clear();
    }
    PyErr_Restore(type, value, tb);
    Py_XDECREF(old_out);
    Py_XDECREF(old_err);
    Py_XDECREF(buffer);
    Py_XDECREF(io);
    return result;
}

/* The last non-empty line of text as UTF-8 into buf ("" when none). */
static void last_line(PyObject *text, char *buf, size_t len)
{
    buf[0] = '\0';
    if (text == NULL)
        return;
    PyObject *stripped = PyObject_CallMethod(text, "strip", NULL);
    PyObject *lines = stripped ? PyUnicode_Splitlines(stripped, 0) : NULL;
    if (lines != NULL && PyList_GET_SIZE(lines) > 0)
        rs_fmt_str(PyList_GET_ITEM(lines, PyList_GET_SIZE(lines) - 1), buf, len);
    if (PyErr_Occurred())
        PyErr_Clear();
    Py_XDECREF(lines);
    Py_XDECREF(stripped);
}

static int cmd_eval(rs_browser *b, int argc, const char **argv, const char *rest)
{
    (void)argc;
    (void)argv;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    if (*rest == '\0') {
        rs_browser_error(b, ":eval needs a Python expression, e.g. :eval CACHE or :eval len(CACHE)");
        return RS_REACT_REDRAW;
    }
    PyObject *code = Py_CompileString(rest, "<refscope :eval>", Py_eval_input);
    if (code == NULL && PyErr_ExceptionMatches(PyExc_SyntaxError)) {
        PyErr_Clear(); /* a statement, e.g. x = f() */
        code = Py_CompileString(rest, "<refscope :eval>", Py_single_input);
    }
    if (code == NULL) {
        rs_browser_python_error(b, "eval");
        return RS_REACT_REDRAW;
    }
    PyObject *output;
    PyObject *result = run_captured(b, code, &output);
    Py_DECREF(code);
    char printed[300];
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb); /* last_line() runs Python */
    last_line(output, printed, sizeof printed);
    Py_XDECREF(output);
    PyErr_Restore(type, value, tb);
    if (result == NULL) {
        if (PyErr_ExceptionMatches(PyExc_SystemExit)) {
            PyErr_Fetch(&type, &value, &tb);
            rs_browser_error(b, "eval: SystemExit caught; the program keeps running (q leaves the browser)");
            Py_XDECREF(type);
            Py_XDECREF(value);
            Py_XDECREF(tb);
        } else {
            rs_browser_python_error(b, "eval");
        }
        return RS_REACT_REDRAW;
    }
    /* Numbers and strings read best as a value; anything else opens. */
    bool scalar = result == Py_None || PyBool_Check(result) || PyLong_CheckExact(result) ||
                  PyFloat_CheckExact(result) || PyComplex_CheckExact(result) || PyUnicode_CheckExact(result) ||
                  PyBytes_CheckExact(result);
    rs_idx n = scalar ? RS_NONE : rs_snapshot_find(b->snap, result);
    char repr[300];
    if (n != RS_NONE)
        rs_browser_open(b, RS_SCREEN_OBJECT, n, 0);
    else if (result == Py_None)
        rs_browser_info(b, "%s", printed[0] ? printed : "done (None)");
    else if (scalar)
        rs_browser_info(b, "= %s", rs_fmt_repr(result, repr, sizeof repr));
    else
        rs_browser_info(b, "= %s  (a new object, not in the snapshot: :refresh to browse it)",
                        rs_fmt_repr(result, repr, sizeof repr));
    Py_DECREF(result);
    return RS_REACT_REDRAW;
}

static int cmd_mark(rs_browser *b, int argc, const char **argv, const char *rest)
{
    (void)argc;
    (void)argv;
    (void)rest;
    /* The heap now, not the snapshot shown (taken when the browser opened). */
    size_t marked;
    if (rs_growth_mark_now(&marked) < 0)
        rs_browser_python_error(b, "mark");
    else
        rs_browser_info(b, "marked %zu objects; later :growth (or 7) shows what is new", marked);
    return RS_REACT_REDRAW;
}

static int cmd_refresh(rs_browser *b, int argc, const char **argv, const char *rest)
{
    (void)argc;
    (void)argv;
    (void)rest;
    b->refresh_collect = false;
    return RS_REACT_REFRESH;
}

static int cmd_collect(rs_browser *b, int argc, const char **argv, const char *rest)
{
    (void)argc;
    (void)argv;
    (void)rest;
    b->refresh_collect = true;
    return RS_REACT_REFRESH;
}

static int cmd_growth(rs_browser *b, int argc, const char **argv, const char *rest)
{
    (void)argc;
    (void)argv;
    (void)rest;
    if (!rs_growth_has_mark()) {
        rs_browser_error(b, "no mark yet: :mark first, let the program run, then :growth");
        return RS_REACT_REDRAW;
    }
    b->refresh_collect = false;
    b->refresh_then = RS_SCREEN_GROWTH;
    return RS_REACT_REFRESH;
}

static int cmd_diff(rs_browser *b, int argc, const char **argv, const char *rest)
{
    (void)argc;
    (void)argv;
    (void)rest;
    if (b->diff == NULL)
        rs_browser_error(b, ":diff compares two dumps: open the newer one with refscope open NEW --diff OLD");
    else
        rs_browser_open(b, RS_SCREEN_DIFF, 0, 0);
    return RS_REACT_REDRAW;
}

static int cmd_help(rs_browser *b, int argc, const char **argv, const char *rest)
{
    (void)argc;
    (void)argv;
    (void)rest;
    rs_browser_open(b, RS_SCREEN_HELP, 0, 0);
    return RS_REACT_REDRAW;
}

static int cmd_quit(rs_browser *b, int argc, const char **argv, const char *rest)
{
    (void)b;
    (void)argc;
    (void)argv;
    (void)rest;
    return RS_REACT_QUIT;
}

/* --- :save ------------------------------------------------------------------ */

/* Writes with the analysis layer's exporters into a Python file object
 * (they write through file.write).  0, or -1 with an exception set. */
static int save_to(rs_browser *b, const char *name, bool dot, rs_idx n)
{
    PyObject *io = PyImport_ImportModule("io");
    PyObject *file = io ? PyObject_CallMethod(io, "open", "ss", name, "w") : NULL;
    Py_XDECREF(io);
    if (file == NULL)
        return -1;
    int r = dot ? rs_export_dot(b->snap, file, n, 3, RS_DOT_BOTH, 500) : rs_export_json(b->snap, file);
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *closed = PyObject_CallMethod(file, "close", NULL);
    Py_DECREF(file);
    if (closed == NULL) {
        r = -1;
        if (type == NULL)
            return -1; /* the close error stands */
        PyErr_Clear();
    }
    Py_XDECREF(closed);
    PyErr_Restore(type, value, tb);
    return r;
}

static int cmd_save(rs_browser *b, int argc, const char **argv, const char *rest)
{
    (void)rest;
    if (argc != 2) {
        rs_browser_error(b, ":save needs one file name, e.g. :save heap.json or :save node.dot");
        return RS_REACT_REDRAW;
    }
    const char *name = argv[1];
    size_t len = strlen(name);
    bool dot = len > 4 && strcmp(name + len - 4, ".dot") == 0;
    rs_view *v = b->view;
    rs_idx n = v->place.screen == RS_SCREEN_OBJECT ? (rs_idx)v->place.arg
                                                    : v->cls->selected_node ? v->cls->selected_node(v) : RS_NONE;
    if (dot && n == RS_NONE) {
        rs_browser_error(b, ":save FILE.dot draws the selected object: select one first");
        return RS_REACT_REDRAW;
    }
    if (save_to(b, name, dot, n) < 0) {
        rs_browser_python_error(b, "save");
        return RS_REACT_REDRAW;
    }
    /* The whole path: a relative name is in the program's directory,
     * which is not the attached user's. */
    char *full = realpath(name, NULL);
    rs_browser_info(b, "saved %s (%s)", full != NULL ? full : name,
                    dot ? "Graphviz: referents and referrers, 3 levels, cuts marked" : "JSON, the whole snapshot");
    free(full);
    return RS_REACT_REDRAW;
}

static int cmd_dump(rs_browser *b, int argc, const char **argv, const char *rest)
{
    (void)rest;
    if (argc != 2)
        rs_browser_error(b, ":dump needs one file name, e.g. :dump heap.rsd");
    else if (rs_dump_write(b->snap, argv[1]) < 0)
        rs_browser_python_error(b, "dump");
    else
        rs_browser_info(b, "dumped %s: open it anywhere with refscope.load() or refscope report %s", argv[1], argv[1]);
    return RS_REACT_REDRAW;
}

/* --- running a line ------------------------------------------------------------- */

/* The command named by word: exact or a unique prefix; NULL otherwise
 * (*ambiguous set when several match). */
static const struct command *find_command(const char *word, bool *ambiguous)
{
    const struct command *found = NULL;
    *ambiguous = false;
    size_t len = strlen(word);
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        if (strcmp(commands[i].name, word) == 0)
            return &commands[i];
        if (len > 0 && strncmp(commands[i].name, word, len) == 0) {
            if (found != NULL)
                *ambiguous = true;
            found = &commands[i];
        }
    }
    return *ambiguous ? NULL : found;
}

int rs_command_run(rs_browser *b, const char *line)
{
    while (*line == ' ' || *line == '\t')
        line++;
    if (*line == '\0')
        return RS_REACT_REDRAW;
    /* The command word, then the raw rest (for :eval, where the tokenizer
     * would eat Python's quotes). */
    char word[32];
    size_t w = 0;
    while (line[w] && line[w] != ' ' && line[w] != '\t' && w < sizeof word - 1) {
        word[w] = line[w];
        w++;
    }
    word[w] = '\0';
    bool ambiguous;
    const struct command *c = find_command(word, &ambiguous);
    if (c == NULL) {
        if (ambiguous)
            rs_browser_error(b, "':%s' could be several commands; type more of it (Tab completes)", word);
        else
            rs_browser_error(b, "unknown command ':%s'; :help lists the commands", word);
        return RS_REACT_REDRAW;
    }
    if (c->live && rs_snapshot_is_stored(b->snap)) {
        char origin[160];
        rs_browser_error(b, ":%s needs the live process, and this is a %s: its objects are not here", c->name,
                         rs_snapshot_origin(b->snap, origin, sizeof origin));
        return RS_REACT_REDRAW;
    }
    if (c->run == cmd_eval)
        return cmd_eval(b, 0, NULL, line + w);
    Tokenizer *tok = tok_init(NULL);
    if (tok == NULL) {
        rs_browser_error(b, "not enough memory to read the command");
        return RS_REACT_REDRAW;
    }
    int argc = 0;
    const char **argv = NULL;
    int r = tok_str(tok, line, &argc, &argv);
    int reactions = RS_REACT_REDRAW;
    if (r != 0)
        rs_browser_error(b, "unmatched quote in the command; close it or leave it out");
    else
        reactions = c->run(b, argc, argv, line + w);
    tok_end(tok);
    return reactions;
}

/* --- the history file ---------------------------------------------------------- */

/* mkdir -p for the directory part of path (0700 for what it creates). */
static void make_parent_dirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        mkdir(path, 0700);
        *p = '/';
    }
}

static void history_path(char *buf, size_t len)
{
    const char *state = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    buf[0] = '\0';
    if (state != NULL && state[0] == '/')
        snprintf(buf, len, "%s/refscope/history", state);
    else if (home != NULL && home[0] != '\0')
        snprintf(buf, len, "%s/.local/state/refscope/history", home);
}

/* The line editor, created on first use (history loaded); NULL when
 * memory runs out. */
static struct rs_cmdline *cmdline_get(rs_browser *b)
{
    if (b->cmdline != NULL)
        return b->cmdline;
    struct rs_cmdline *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->history = history_init();
    if (c->history != NULL) {
        history(c->history, &c->event, H_SETSIZE, HISTORY_SIZE);
        history(c->history, &c->event, H_SETUNIQUE, 1);
        history_path(c->path, sizeof c->path);
        if (c->path[0])
            history(c->history, &c->event, H_LOAD, c->path);
    }
    c->patterns = history_init();
    if (c->patterns != NULL) {
        history(c->patterns, &c->event, H_SETSIZE, HISTORY_SIZE);
        history(c->patterns, &c->event, H_SETUNIQUE, 1);
    }
    b->cmdline = c;
    return c;
}

void rs_cmdline_free(rs_browser *b)
{
    struct rs_cmdline *c = b->cmdline;
    if (c == NULL)
        return;
    if (c->history != NULL) {
        if (c->path[0]) {
            make_parent_dirs(c->path);
            history(c->history, &c->event, H_SAVE, c->path);
        }
        history_end(c->history);
    }
    if (c->patterns != NULL)
        history_end(c->patterns);
    free(c);
    b->cmdline = NULL;
}

/* --- editing ------------------------------------------------------------------- */

void rs_cmdline_start(rs_browser *b, int kind)
{
    struct rs_cmdline *c = cmdline_get(b);
    if (c == NULL) {
        rs_browser_error(b, "not enough memory for the command line");
        return;
    }
    c->kind = kind;
    c->len = c->pos = 0;
    c->line[0] = '\0';
    c->browsing = false;
    /* An empty line: Enter on it shows all rows again, Up recalls the
     * filter in use and older ones. */
    b->prompt = kind;
}

static size_t char_start_before(const char *s, size_t pos)
{
    if (pos == 0)
        return 0;
    pos--;
    while (pos > 0 && ((unsigned char)s[pos] & 0xC0) == 0x80)
        pos--;
    return pos;
}

static size_t char_end_after(const char *s, size_t len, size_t pos)
{
    if (pos >= len)
        return len;
    pos++;
    while (pos < len && ((unsigned char)s[pos] & 0xC0) == 0x80)
        pos++;
    return pos;
}

static void delete_range(struct rs_cmdline *c, size_t from, size_t to)
{
    memmove(c->line + from, c->line + to, c->len - to + 1);
    c->len -= to - from;
    c->pos = from;
}

/* Inserts text at the cursor; false (nothing inserted) when the line
 * would be longer than LINE_MAX_BYTES - 1. */
static bool insert_text(struct rs_cmdline *c, const char *text, size_t n)
{
    if (c->len + n >= sizeof c->line)
        return false;
    memmove(c->line + c->pos + n, c->line + c->pos, c->len - c->pos + 1);
    memcpy(c->line + c->pos, text, n);
    c->len += n;
    c->pos += n;
    return true;
}

static void set_line(struct rs_cmdline *c, const char *text)
{
    snprintf(c->line, sizeof c->line, "%s", text);
    size_t n = strlen(c->line);
    if (n > 0 && c->line[n - 1] == '\n')
        c->line[--n] = '\0';
    c->len = c->pos = n;
}

static void history_move(struct rs_cmdline *c, bool older)
{
    History *h = c->kind == ':' ? c->history : c->patterns;
    if (h == NULL)
        return;
    int r;
    if (older) {
        if (!c->browsing) {
            snprintf(c->typed, sizeof c->typed, "%s", c->line);
            r = history(h, &c->event, H_FIRST);
        } else {
            r = history(h, &c->event, H_NEXT);
        }
        if (r == -1)
            return;
        c->browsing = true;
        set_line(c, c->event.str);
        return;
    }
    if (!c->browsing)
        return;
    if (history(h, &c->event, H_PREV) == -1) {
        c->browsing = false;
        set_line(c, c->typed);
        return;
    }
    set_line(c, c->event.str);
}

/* Completes the word before the cursor from a list of candidates: the
 * unique one, or their common prefix with the choices on the status line. */
static void complete_from(rs_browser *b, struct rs_cmdline *c, size_t word_start, const char *const *names,
                          size_t count, bool add_space)
{
    const char *word = c->line + word_start;
    size_t wlen = c->pos - word_start;
    const char *match = NULL;
    size_t matches = 0, common = 0;
    char choices[400] = "";
    size_t clen = 0;
    for (size_t i = 0; i < count; i++) {
        if (strncmp(names[i], word, wlen) != 0)
            continue;
        if (matches == 0) {
            match = names[i];
            common = strlen(match);
        } else {
            size_t k = 0;
            while (k < common && match[k] == names[i][k])
                k++;
            common = k;
        }
        matches++;
        if (clen < sizeof choices - 1)
            clen += (size_t)snprintf(choices + clen, sizeof choices - clen, "%s ", names[i]);
    }
    if (matches == 0) {
        rs_browser_error(b, "nothing to complete for '%.*s'", (int)wlen, word);
        return;
    }
    if (common > wlen)
        insert_text(c, match + wlen, common - wlen);
    if (matches == 1 && add_space && (c->pos == c->len || c->line[c->pos] != ' '))
        insert_text(c, " ", 1);
    if (matches > 1)
        rs_browser_info(b, "%s", choices);
}

static void complete(rs_browser *b, struct rs_cmdline *c)
{
    if (c->kind != ':')
        return;
    size_t start = c->pos;
    while (start > 0 && c->line[start - 1] != ' ')
        start--;
    size_t first = 0;
    while (first < c->len && c->line[first] == ' ')
        first++;
    if (start <= first) {
        const char *names[COMMAND_COUNT];
        for (size_t i = 0; i < COMMAND_COUNT; i++)
            names[i] = commands[i].name;
        complete_from(b, c, start, names, COMMAND_COUNT, true);
        return;
    }
    bool ambiguous;
    char word[32];
    size_t w = 0;
    while (first + w < c->len && c->line[first + w] != ' ' && w < sizeof word - 1) {
        word[w] = c->line[first + w];
        w++;
    }
    word[w] = '\0';
    const struct command *cmd = find_command(word, &ambiguous);
    if (cmd == NULL || cmd->run != cmd_type) {
        rs_browser_error(b, "Tab completes command names and, after :type, type names");
        return;
    }
    rs_snapshot *s = b->snap;
    const char **names = malloc((s->type_count ? 2 * (size_t)s->type_count : 1) * sizeof *names);
    if (names == NULL) {
        rs_browser_error(b, "not enough memory to complete");
        return;
    }
    /* Qualified names ("__main__.Ses" -> "__main__.Session"), and while
     * the word has no dot also the short names after the module (":type
     * Node" works when Node is unique). */
    bool dotted = memchr(c->line + start, '.', c->pos - start) != NULL;
    size_t count = 0;
    for (uint32_t i = 0; i < s->type_count; i++) {
        const char *dot = strrchr(s->types[i].name, '.');
        names[count++] = s->types[i].name;
        if (!dotted && dot != NULL)
            names[count++] = dot + 1;
    }
    complete_from(b, c, start, names, count, false);
    free(names);
}

/* Runs the finished line: a command, or the filter. */
static int accept_line(rs_browser *b, struct rs_cmdline *c)
{
    b->prompt = 0;
    if (c->kind == 'f') {
        rs_view *v = b->view;
        if (c->line[0] == '\0')
            return RS_REACT_REDRAW;
        rs_copy_text(b->pattern, sizeof b->pattern, c->line);
        if (c->patterns != NULL)
            history(c->patterns, &c->event, H_ENTER, c->line);
        int r = vm_list_find_progress(&v->list, c->line, 1, rs_browser_find_progress, b);
        if (r < 0)
            rs_browser_python_error(b, "find");
        else if (r == 0)
            rs_browser_error(b, "no row matches '%s'", c->line);
        else if (r == 2)
            rs_browser_info(b, "search stopped: the cursor is where it was");
        else
            rs_browser_info(b, "found '%s' (%s: the next one, %s: the one before)", c->line,
                            rs_key_name(RS_ACTION_NEXT_MATCH), rs_key_name(RS_ACTION_PREV_MATCH));
        return RS_REACT_REDRAW;
    }
    if (c->kind == '/') {
        rs_view *v = b->view;
        rs_copy_text(b->pattern, sizeof b->pattern, c->line);
        if (c->patterns != NULL && c->line[0] != '\0')
            history(c->patterns, &c->event, H_ENTER, c->line);
        /* Folded groups unfold under a filter, so that it sees their
         * items; they fold again when the filter is cleared. */
        bool all = c->line[0] != '\0';
        int r;
        if (v->cls->folds && !b->ungrouped && (v->place.unfolded == RS_UNFOLDED_ALL) != all) {
            r = rs_browser_refold(b, all ? RS_UNFOLDED_ALL : 0, c->line);
            v = b->view;
            if (r < 0)
                return RS_REACT_REDRAW; /* said on the screen */
        } else {
            r = vm_list_filter_progress(&v->list, c->line, rs_browser_filter_progress, b);
        }
        if (r > 0) {
            rs_browser_info(b, "filter stopped: the list is as it was");
        } else if (r < 0) {
            if (PyErr_Occurred())
                rs_browser_python_error(b, "filter");
            else
                rs_browser_error(b, "not enough memory to filter %zu rows", v->list.total);
        } else if (c->line[0] && v->list.count == 0) {
            rs_browser_error(b, "no rows match '%s'; / then Enter on an empty line shows all again", c->line);
        }
        return RS_REACT_REDRAW;
    }
    if (c->history != NULL && c->line[0] != '\0')
        history(c->history, &c->event, H_ENTER, c->line);
    char line[LINE_MAX_BYTES];
    snprintf(line, sizeof line, "%s", c->line);
    return rs_command_run(b, line);
}

int rs_cmdline_key(rs_browser *b, int key)
{
    struct rs_cmdline *c = b->cmdline;
    if (c == NULL) {
        b->prompt = 0;
        return RS_REACT_REDRAW;
    }
    switch (key) {
    case UI_KEY_ENTER:
        return accept_line(b, c);
    case UI_KEY_ESC:
    case UI_KEY_CTRL_C:
    case 7: /* Ctrl-G */
        b->prompt = 0;
        break;
    case UI_KEY_BACKSPACE:
        if (c->pos == 0 && c->len == 0)
            b->prompt = 0;
        else
            delete_range(c, char_start_before(c->line, c->pos), c->pos);
        break;
    case UI_KEY_DELETE:
    case 4: /* Ctrl-D */
        delete_range(c, c->pos, char_end_after(c->line, c->len, c->pos));
        break;
    case UI_KEY_LEFT:
    case 2: /* Ctrl-B */
        c->pos = char_start_before(c->line, c->pos);
        break;
    case UI_KEY_RIGHT:
    case 6: /* Ctrl-F */
        c->pos = char_end_after(c->line, c->len, c->pos);
        break;
    case UI_KEY_HOME:
    case 1: /* Ctrl-A */
        c->pos = 0;
        break;
    case UI_KEY_END:
    case 5: /* Ctrl-E */
        c->pos = c->len;
        break;
    case 11: /* Ctrl-K */
        c->line[c->pos] = '\0';
        c->len = c->pos;
        break;
    case 21: /* Ctrl-U */
        delete_range(c, 0, c->pos);
        break;
    case 23: { /* Ctrl-W: the word before the cursor */
        size_t p = c->pos;
        while (p > 0 && c->line[p - 1] == ' ')
            p--;
        while (p > 0 && c->line[p - 1] != ' ')
            p--;
        delete_range(c, p, c->pos);
        break;
    }
    case UI_KEY_UP:
    case 16: /* Ctrl-P */
        history_move(c, true);
        break;
    case UI_KEY_DOWN:
    case 14: /* Ctrl-N */
        history_move(c, false);
        break;
    case UI_KEY_TAB:
        complete(b, c);
        break;
    default:
        if (key >= 0x20 && key < 0x110000 && key != 0x7f) {
            char utf8[4];
            size_t n;
            unsigned k = (unsigned)key;
            if (k < 0x80) {
                utf8[0] = (char)k;
                n = 1;
            } else if (k < 0x800) {
                utf8[0] = (char)(0xC0 | (k >> 6));
                utf8[1] = (char)(0x80 | (k & 0x3F));
                n = 2;
            } else if (k < 0x10000) {
                utf8[0] = (char)(0xE0 | (k >> 12));
                utf8[1] = (char)(0x80 | ((k >> 6) & 0x3F));
                utf8[2] = (char)(0x80 | (k & 0x3F));
                n = 3;
            } else {
                utf8[0] = (char)(0xF0 | (k >> 18));
                utf8[1] = (char)(0x80 | ((k >> 12) & 0x3F));
                utf8[2] = (char)(0x80 | ((k >> 6) & 0x3F));
                utf8[3] = (char)(0x80 | (k & 0x3F));
                n = 4;
            }
            if (!insert_text(c, utf8, n))
                rs_browser_error(b, "the command line is full (%d bytes at most); shorten it, or put the code in "
                                    "a module and :eval a call", LINE_MAX_BYTES - 1);
        }
    }
    return RS_REACT_REDRAW;
}

void rs_cmdline_draw(rs_browser *b, int row, int width)
{
    struct rs_cmdline *c = b->cmdline;
    if (c == NULL || width < 4)
        return;
    char kind[2] = {(char)c->kind, '\0'};
    const char *prompt = c->kind == 'f' ? "find: " : kind;
    int at = ui_text_width(prompt);
    ui_fill(row, 0, width, UI_NORMAL);
    ui_text(row, 0, at, UI_HEADING, prompt);
    /* Scroll the line so the cursor stays in view. */
    char before[LINE_MAX_BYTES];
    memcpy(before, c->line, c->pos);
    before[c->pos] = '\0';
    const char *start = before;
    while (ui_text_width(start) > width - 2 - at)
        start += char_end_after(start, strlen(start), 0);
    size_t offset = (size_t)(start - before);
    ui_text(row, at, width - 1 - at, UI_NORMAL, c->line + offset);
    ui_cursor(row, at + ui_text_width(start));
}
