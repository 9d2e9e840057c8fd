/*
 * What the browser's files share (private to the browser): the browser
 * state, the screens and their classes, the actions of the key table and
 * the reaction flags key handlers return.  Views draw only through ui.h
 * and change only browser state; browser.c runs the loop and draws frames.
 */
#ifndef REFSCOPE_VIEW_H
#define REFSCOPE_VIEW_H

#include <Python.h>
#include <stdbool.h>
#include <string.h>

#include "analysis.h"
#include "browser.h"
#include "node.h"
#include "snapshot.h"
#include "ui.h"
#include "viewmodel.h"

/* The screens; a place in the history names one of them. */
enum rs_screen {
    RS_SCREEN_SUMMARY,
    RS_SCREEN_TYPES,
    RS_SCREEN_INSTANCES, /* arg: type id; arg2: 1 = only objects new since the mark */
    RS_SCREEN_OBJECT,    /* arg: node */
    RS_SCREEN_PATH,      /* arg: node */
    RS_SCREEN_RETAINED,  /* arg: node */
    RS_SCREEN_CYCLES,
    RS_SCREEN_CYCLE,     /* arg: cycle number; arg2: node walked to + 1 (0 = start) */
    RS_SCREEN_GARBAGE,
    RS_SCREEN_CLOSURES,
    RS_SCREEN_THREADS,
    RS_SCREEN_GROWTH,
    RS_SCREEN_HELP,
    RS_SCREEN_TEXT,      /* arg: node; arg2: RS_TEXT_VALUE or RS_TEXT_ALLOCATION */
    RS_SCREEN_DIFF,      /* a dump against an older one (rs_browser.diff) */
    RS_SCREEN_COUNT
};

/* What the text pane shows of its object. */
enum { RS_TEXT_VALUE, RS_TEXT_ALLOCATION };

/* What a key asks for; the key table maps keys to these. */
enum rs_action {
    RS_ACTION_NONE,
    RS_ACTION_UP,
    RS_ACTION_DOWN,
    RS_ACTION_PAGE_UP,
    RS_ACTION_PAGE_DOWN,
    RS_ACTION_HOME,
    RS_ACTION_END,
    RS_ACTION_FOLLOW,
    RS_ACTION_BACK,
    RS_ACTION_QUIT,
    RS_ACTION_LEAVE,
    RS_ACTION_FILTER,
    RS_ACTION_NEXT_MATCH,
    RS_ACTION_PREV_MATCH,
    RS_ACTION_SORT,
    RS_ACTION_PATH,
    RS_ACTION_CYCLE,
    RS_ACTION_RETAINED,
    RS_ACTION_ALLOCATION,
    RS_ACTION_COMMAND,
    RS_ACTION_HELP,
    RS_ACTION_SUMMARY,
    RS_ACTION_TYPES,
    RS_ACTION_CYCLES,
    RS_ACTION_GARBAGE,
    RS_ACTION_CLOSURES,
    RS_ACTION_THREADS,
    RS_ACTION_GROWTH,
    RS_ACTION_REDRAW,
    RS_ACTION_SUSPEND,
    RS_ACTION_OTHER_SECTION, /* object screen: holds <-> held by */
    RS_ACTION_CRUMBS,        /* jump back to a breadcrumb */
    RS_ACTION_SCROLL_LEFT,
    RS_ACTION_SCROLL_RIGHT,
    RS_ACTION_VALUE,         /* full repr / string in a pane */
    RS_ACTION_COPY_PATH,     /* why-alive path to the clipboard */
    RS_ACTION_SORT_REVERSE,
    RS_ACTION_FIND,          /* jump to the next matching row, hiding none */
    RS_ACTION_STDLIB,        /* show or hide the standard library's rows */
    RS_ACTION_GROUP,         /* fold rows that share a key, or list every row */
    RS_ACTION_COUNT
};

/* Reaction flags returned by key handlers (which never draw). */
enum rs_reaction {
    RS_REACT_NONE = 0,
    RS_REACT_REDRAW = 1 << 0,    /* the screen changed */
    RS_REACT_REFRESH = 1 << 1,   /* take a new snapshot */
    RS_REACT_BACK = 1 << 2,      /* go back one place */
    RS_REACT_QUIT = 1 << 3,      /* leave the browser */
    RS_REACT_UNHANDLED = 1 << 4, /* the view did not use the key */
};

/* One row of the key table: keys.c holds the only copy. */
typedef struct rs_key_binding {
    int key;              /* a character or UI_KEY_* */
    const char *key_name; /* as shown in help and the bar: "Enter", "q" */
    enum rs_action action;
    const char *help;     /* one line for the help screen */
    const char *bar;      /* short label for the function bar, or NULL */
    const char *hint;     /* word for one-line key hints ("p path"), or NULL */
} rs_key_binding;

extern const rs_key_binding rs_key_table[];
extern const size_t rs_key_table_count;

/* The action bound to key, or RS_ACTION_NONE. */
enum rs_action rs_key_action(int key);

/* The name of the first key bound to action ("3"), for prose such as
 * "3 lists every cycle"; "?" when none is. */
const char *rs_key_name(enum rs_action action);

/* "p path  c cycle ..." for the actions given, from the key table's hint
 * words, into buf; returns buf. */
const char *rs_key_hint(const enum rs_action *actions, size_t count, char *buf, size_t len);

typedef struct rs_browser rs_browser;
typedef struct rs_view rs_view;

#define RS_ROW_MAX 1024

/* A screen: how to build, show and drive one kind of view (tmux mode-tree
 * style: the list machinery is shared, a class fills in the rows). */
typedef struct rs_view_class {
    enum rs_screen screen;
    const char *title;
    const vm_source *source;
    /* Builds v->data and v->list for v->place; 0, or -1 with a Python
     * exception set (the browser shows it and stays where it was). */
    int (*open)(rs_view *v);
    /* Frees v->data (releasing any references). */
    void (*close)(rs_view *v);
    /* Lines of header the view wants above its list at this width. */
    int (*header_height)(rs_view *v, int width);
    /* Draws those lines from screen row `row` with ui_text(). */
    void (*draw_header)(rs_view *v, int row, int width);
    /* Column titles above the list, or NULL. */
    const char *(*columns)(rs_view *v);
    /* Formats view row `row` into buf (one line, UTF-8, no control
     * characters) and picks its style.  0, or -1 with a Python exception. */
    int (*format_row)(rs_view *v, size_t row, char *buf, size_t len, ui_style *style);
    /* The node under the cursor (for Enter, p, c, r, a), or RS_NONE. */
    rs_idx (*selected_node)(rs_view *v);
    /* Handles an action before the browser's defaults; reaction flags, or
     * RS_REACT_UNHANDLED. */
    int (*key)(rs_view *v, enum rs_action action);
    /* Optional: where the list splits into two panes shown side by side
     * on a wide terminal (the position of the second pane's first row),
     * or SIZE_MAX to show one list. */
    size_t (*split)(rs_view *v);
    /* Optional: the header as one text, wrapped to the width by
     * rs_view_header_wrapped() / rs_view_draw_header_wrapped(). */
    const char *(*header_text)(rs_view *v, char *buf, size_t len);
    /* Optional: how the breadcrumb of the place that Enter opens from the
     * selected row reads ("CACHE", "[12]", ".lines"); false to let the
     * browser name it by the object's type. */
    bool (*row_crumb)(rs_view *v, char *buf, size_t len);
    /* The view folds rows into groups (view_group.c) and honours
     * place.unfolded, RS_UNFOLDED_ALL included. */
    bool folds;
} rs_view_class;

/* Rows text takes when wrapped at width columns (at least 1). */
int rs_wrapped_rows(const char *text, int width);

/* Draws text wrapped at width columns from screen row `row`, at most
 * max_rows rows; returns the rows drawn. */
int rs_draw_wrapped(int row, int width, int max_rows, ui_style style, const char *text);

/* header_height and draw_header for views that give header_text: the
 * text wrapped to the width, nothing cut. */
int rs_view_header_wrapped(rs_view *v, int width);
void rs_view_draw_header_wrapped(rs_view *v, int row, int width);

/* header_height for the views whose header is a single line. */
int rs_view_header_one_line(rs_view *v, int width);

/* Cached formatted rows: scrolling by one row formats one new row. */
#define RS_ROW_CACHE 128
typedef struct rs_row_cache_entry {
    size_t row; /* SIZE_MAX = empty */
    ui_style style;
    char *text;
} rs_row_cache_entry;

struct rs_view {
    const rs_view_class *cls;
    rs_browser *browser;
    vm_place place;
    vm_list list;
    void *data;
    rs_row_cache_entry cache[RS_ROW_CACHE];
    int list_row; /* screen row of the first list row (for clicks) */
    int hscroll;  /* columns of every row scrolled off to the left (< >) */
    int split_col;       /* > 0: two panes, the second from this column */
    size_t pane_top[2];  /* first position shown in each pane */
};

/* Columns from which a view with a split shows its two panes side by side. */
#define RS_SIDE_BY_SIDE_COLS 160

/* The position a click at (row, col) of the screen lands on, or SIZE_MAX. */
size_t rs_view_position_at(const rs_view *v, int row, int col);

/* The state of a running browser (browser.c owns it). */
struct rs_browser {
    rs_snapshot *snap;
    PyObject *globals;  /* :eval namespace (borrowed from the caller), or NULL: __main__'s */
    PyObject *locals;   /* (borrowed) or NULL: the globals */
    PyObject *caller_frame; /* (borrowed) or NULL */
    rs_snapshot_caller caller; /* what the caller holds (borrowed): hidden from every snapshot */
    PyObject *main_module;  /* __main__ (strong) when there are no globals */
    rs_view *view;
    vm_history history;
    char status[512];
    bool status_error;
    char pattern[VM_FILTER_MAX]; /* last / pattern, for n and N */
    struct rs_cmdline *cmdline;  /* the : and / line editor */
    int prompt;                  /* 0 = none, ':' or '/' while editing */
    bool quit;
    int rows, cols;
    bool unicode;
    bool bench; /* drawing for the benchmark: no status noise */
    bool refresh_collect; /* RS_REACT_REFRESH: gc.collect() first */
    int refresh_then;     /* RS_REACT_REFRESH: screen to open after, or -1 */
    int bar_end[32]; /* function bar: right edge of each item, for clicks */
    enum rs_action bar_action[32];
    int bar_items;
    bool picking_crumb; /* b was pressed: digits pick a breadcrumb */
    size_t crumb_typed; /* the breadcrumb number typed so far (0: none) */
    bool show_stdlib;   /* closures and threads list the standard library's rows too */
    PyObject *diff;     /* `refscope open NEW --diff OLD`: (title, holder rows, type rows), borrowed; or NULL */
    bool ungrouped;     /* object and instances screens list every row, none folded */
};

/* --- browser.c: what views and commands call ----------------------------- */

/* Opens screen (arg, arg2) on top of the current one, which goes on the
 * history stack.  0, or -1 with the error shown on the status line. */
int rs_browser_open(rs_browser *b, enum rs_screen screen, uint64_t arg, uint64_t arg2);

/* Replaces the current screen by (screen, arg, arg2) without history. */
int rs_browser_replace(rs_browser *b, enum rs_screen screen, uint64_t arg, uint64_t arg2);

/* Opens the current place again with `unfolded` (see vm_place), keeping
 * its breadcrumb and sort, and `filter` ("" = none; applied with
 * progress).  0; 1 when Esc stopped the filter or -1 on an error (said on
 * the screen), the view then as it was. */
int rs_browser_refold(rs_browser *b, uint64_t unfolded, const char *filter);

/* Shows a one-line error on the status bar: the single error path. */
void rs_browser_error(rs_browser *b, const char *format, ...);

/* Shows the pending Python exception (cleared) as one status line, after
 * prefix ("eval", "save"). */
void rs_browser_python_error(rs_browser *b, const char *prefix);

/* Shows a one-line message on the status bar. */
void rs_browser_info(rs_browser *b, const char *format, ...);

/* A vm_progress_fn for filters (ctx: the browser): shows how far a filter
 * of many rows got; nonzero when the user pressed Esc to stop it. */
int rs_browser_filter_progress(void *ctx, size_t done, size_t total);

/* The same for f, n and N looking through many rows. */
int rs_browser_find_progress(void *ctx, size_t done, size_t total);

/* --- view_list.c: helpers every view uses -------------------------------- */

/* The class of a screen. */
const rs_view_class *rs_view_class_of(enum rs_screen screen);

/* Draws v's header, column titles and visible rows between screen rows
 * top and top + height - 1.  Rows that fail to format show the error. */
void rs_view_draw(rs_view *v, int top, int height, int width);

/* Forgets every formatted row (after the data under them changed). */
void rs_view_forget_rows(rs_view *v);

/* Frees the row cache and the list; calls the class's close. */
void rs_view_destroy(rs_view *v);

/* What object rows sort by. */
typedef enum rs_node_key { RS_KEY_SIZE, RS_KEY_RETAINED, RS_KEY_ADDRESS, RS_KEY_TYPE } rs_node_key;

/* <0, 0, >0 comparing nodes x and y by key, as a vm_source compare does
 * (type names compare backwards, so that "descending", the first order s
 * gives, lists them from A to Z). */
int rs_compare_nodes(rs_snapshot *s, rs_idx x, rs_idx y, rs_node_key key);

/* A list of nodes sorted by key table: the views whose data begins with
 * one (instances, retained set) share rs_node_rows_compare(). */
typedef struct rs_node_rows {
    rs_idx *nodes;
    size_t count;
    const rs_node_key *keys; /* the sort key of each column */
} rs_node_rows;

/* A vm_source compare for views whose data begins with an rs_node_rows. */
int rs_node_rows_compare(void *view, size_t a, size_t b, int column);

/* Default matcher: formats the row and looks for pattern in it. */
int rs_view_row_matches(void *ctx, size_t row, const char *pattern);

/* rs_format_bytes() into buf (at least 16 bytes): "1.4M". */
const char *rs_fmt_size(uint64_t size, char *buf);

/* The flags of node n as a 4-column string (⟳ † ◆ ✗ or C F L G when the
 * terminal has no UTF-8), in buf of at least 32 bytes. */
const char *rs_fmt_flags(rs_browser *b, rs_idx n, char *buf);

/* A safe repr of obj as UTF-8 into buf (cut to fit); never fails: a
 * MemoryError gives "<no memory>" and is cleared. */
const char *rs_fmt_repr(PyObject *obj, char *buf, size_t len);

/* rs_fmt_repr() of node n, live or stored (node.h). */
const char *rs_fmt_node_repr(rs_snapshot *s, rs_idx n, char *buf, size_t len);

/* A Python str as UTF-8 into buf, control characters escaped; a NULL str
 * (an error) gives "?" and clears the error. */
const char *rs_fmt_str(PyObject *str, char *buf, size_t len);

/* Appends text padded or cut to exactly width columns (width < 0: no
 * padding, no cut) at *pos in buf. */
void rs_fmt_column(char *buf, size_t len, size_t *pos, const char *text, int width);

/* A standard object row: flags, type, size, retained, repr (after an
 * optional label column of label_width). */
void rs_fmt_object_row(rs_browser *b, rs_idx n, const char *label, int label_width, char *buf, size_t len);

/* 1 when code (a code object) comes from the standard library (a file
 * under sysconfig's stdlib, not site-packages, or a frozen module), 0
 * when not, not a code object or NULL (a dump's), -1 with an exception. */
int rs_code_in_stdlib(PyObject *code);

/* true when n is a cell or held by one (captured by a closure). */
bool rs_node_in_closure(rs_snapshot *s, rs_idx n);

/* true when n is garbage: in gc.garbage or unreachable from every root. */
bool rs_node_is_garbage(rs_snapshot *s, rs_idx n);

/* Copies src into dst (size bytes), cut at a UTF-8 character boundary. */
static inline void rs_copy_text(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* --- view_group.c: folding rows that share a key ------------------------- */

typedef struct rs_group {
    size_t first;      /* its items start at items[first] */
    size_t count;
    uint64_t retained; /* the items' retained sizes added up */
    uint64_t size;     /* and their own sizes */
    bool open;         /* unfolded: its items show under it */
} rs_group;

/* A row of a grouped list: a group of several items (member SIZE_MAX), an
 * item of an unfolded group, or a group's lone item (shown as itself). */
typedef struct rs_group_row {
    size_t group;
    size_t member; /* index inside the group, SIZE_MAX for the group's row */
    size_t parent; /* the group's row for an unfolded item, else SIZE_MAX */
} rs_group_row;

typedef struct rs_grouping {
    size_t *items; /* item indexes, each group's contiguous, in the view's order */
    size_t item_count;
    rs_group *groups; /* biggest total retained first */
    size_t group_count;
    rs_group_row *rows;
    size_t row_count;
} rs_grouping;

/* Groups n items: same_key compares two items (0: same group; its order
 * is the order between groups of equal size), retained and size give an
 * item's retained and own size; all groups start folded.  0, or -1 with
 * MemoryError. */
int rs_grouping_build(rs_grouping *g, size_t n, int (*same_key)(void *ctx, size_t a, size_t b),
                      uint64_t (*retained)(void *ctx, size_t item), uint64_t (*size)(void *ctx, size_t item), void *ctx);

/* Orders the groups as their first items stand in the view (a list's
 * items stay in index order, an object's attributes in traverse order)
 * instead of biggest first, and lays out the rows again; -1 as
 * rs_grouping_layout. */
int rs_grouping_keep_order(rs_grouping *g);

/* rs_grouping_build() for items with a 32-bit key each (key_of): a linear
 * radix sort by key, then same_key (or NULL) orders items of one key and
 * tells them apart; items of one group stay in the view's order.
 * retained and size may be NULL: rs_grouping_count_nodes() then sets the
 * totals. */
int rs_grouping_build_keyed(rs_grouping *g, size_t n, uint32_t (*key_of)(void *ctx, size_t item),
                            int (*same_key)(void *ctx, size_t a, size_t b), uint64_t (*retained)(void *ctx, size_t item),
                            uint64_t (*size)(void *ctx, size_t item), void *ctx);

/* Lays out g->rows from the groups' open flags; -1 when memory runs out
 * (the old rows stay). */
int rs_grouping_layout(rs_grouping *g);

/* The item row shows, or SIZE_MAX for a group's own row. */
size_t rs_grouping_item(const rs_grouping *g, size_t row);

/* The item row shows; for a group's own row, its first item (what p, y
 * and v act on there). */
size_t rs_grouping_item_or_first(const rs_grouping *g, size_t row);

/* The item of v's selected row through g (NULL: the row itself), a
 * group's row giving its first item; SIZE_MAX when nothing is selected. */
size_t rs_grouping_selected(rs_view *v, const rs_grouping *g);

/* vm_source callbacks for grouped views, whose data begins with their
 * rs_grouping: the parent of a row (its group's row), and a comparison of
 * rows by their groups' totals, column 0 the retained size and column 1
 * the size (rows of one group compare equal and keep their order). */
size_t rs_grouping_parent_of(void *view, size_t row);
int rs_grouping_compare(void *view, size_t a, size_t b, int column);

/* The row of group's own row in g->rows, or SIZE_MAX. */
size_t rs_grouping_head_row(const rs_grouping *g, size_t group);

/* Enter on v's selected row when it is a group's (g's rows are v's rows
 * from offset on): unfolds or folds it, records it in v->place.unfolded
 * and rebuilds v's list around it; RS_REACT_UNHANDLED on other rows. */
int rs_grouping_toggle(rs_view *v, rs_grouping *g, size_t offset);

/* Unfolds the group a place recorded (v->place.unfolded, 0 = none,
 * RS_UNFOLDED_ALL every group) when a view opens again; stays folded when
 * memory runs out. */
void rs_grouping_unfold(rs_grouping *g, uint64_t unfolded);

/* place.unfolded while a filter is on: every group unfolded, so that the
 * filter sees each item (and keeps the group rows above those it shows). */
#define RS_UNFOLDED_ALL UINT64_MAX

/* A group's row: "label" in label_width columns, then the flags and type
 * of its first item, its total size and retained size, and note (or
 * NULL) before "(Enter lists them)". */
void rs_fmt_group_row(rs_browser *b, const rs_group *grp, rs_idx first, const char *label, int label_width,
                      const char *note, char *buf, size_t len);

/* Compares rows a and b of g (a != b) as a vm_source compare does for a
 * sort by key, for views whose items are objects (node_of gives an item's
 * node): different groups by their totals (size, retained; else their
 * first items), a group's own row before its items, its items by key. */
int rs_grouping_compare_nodes(rs_view *v, const rs_grouping *g, size_t a, size_t b, rs_node_key key,
                              rs_idx (*node_of)(rs_view *v, size_t item));

/* Sets each group's size and retained size from the objects its items
 * are (node_of), each counted once however many edges lead to it (1M
 * edges to None are 16 bytes): the dominator tree's retained size for
 * those a root reaches, and for garbage what collecting it frees (it and
 * the unreachable objects it reaches, once; the dominator tree gives
 * garbage 0); then orders the groups biggest first again.  Linear in the
 * items and the garbage they reach.  0, or -1 with MemoryError. */
int rs_grouping_count_nodes(rs_grouping *g, rs_snapshot *s, rs_idx (*node_of)(void *ctx, size_t item), void *ctx);

/* Frees what rs_grouping_build() made; g is then empty. */
void rs_grouping_free(rs_grouping *g);

/* --- the screens, one file each ------------------------------------------ */
extern const rs_view_class rs_view_summary, rs_view_types, rs_view_instances, rs_view_object, rs_view_path,
    rs_view_retained, rs_view_cycles, rs_view_cycle, rs_view_garbage, rs_view_closures, rs_view_threads,
    rs_view_growth, rs_view_help, rs_view_text, rs_view_diff;

/* --- cmd.c ---------------------------------------------------------------- */

/* Starts editing a line on the bottom row; kind is ':', '/' (filter) or
 * 'f' (find). */
void rs_cmdline_start(rs_browser *b, int kind);

/* Feeds a key to the line being edited; runs the command or filter on
 * Enter.  Returns reaction flags. */
int rs_cmdline_key(rs_browser *b, int key);

/* Draws the line being edited on screen row `row`. */
void rs_cmdline_draw(rs_browser *b, int row, int width);

/* Runs one command line (":type X" without the colon).  Reaction flags;
 * errors go to the status line. */
int rs_command_run(rs_browser *b, const char *line);

/* Frees the line editor and saves the history file. */
void rs_cmdline_free(rs_browser *b);

/* The command table for the help screen: name, arguments, help; returns
 * false past the end. */
bool rs_command_info(size_t i, const char **name, const char **args, const char **help);

#endif
