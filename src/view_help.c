/*
 * The help screen, generated from the key table and the command table, so
 * it lists exactly the keys and commands that work.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <string.h>

#include "view.h"

enum { FLAG_ROWS = 4 };

static size_t command_count(void)
{
    size_t n = 0;
    const char *name, *args, *help;
    while (rs_command_info(n, &name, &args, &help))
        n++;
    return n;
}

/* Rows: "keys" heading, the key table, "commands" heading, the commands,
 * "flags" heading, the flags. */
static size_t total_rows(void)
{
    return 1 + rs_key_table_count + 1 + command_count() + 1 + FLAG_ROWS;
}

static bool is_heading(size_t row)
{
    return row == 0 || row == 1 + rs_key_table_count || row == 2 + rs_key_table_count + command_count();
}

static bool selectable(void *ctx, size_t row)
{
    (void)ctx;
    return !is_heading(row);
}

static const vm_source source = {.matches = rs_view_row_matches, .selectable = selectable};

static int help_open(rs_view *v)
{
    vm_list_init(&v->list, &source, v, total_rows());
    return 0;
}

static int help_format(rs_view *v, size_t row, char *buf, size_t len, ui_style *style)
{
    size_t commands = command_count();
    *style = is_heading(row) ? UI_HEADING : UI_NORMAL;
    if (row == 0) {
        snprintf(buf, len, "keys (q or Backspace goes back)");
        return 0;
    }
    row--;
    if (row < rs_key_table_count) {
        const rs_key_binding *k = &rs_key_table[row];
        snprintf(buf, len, "  %-10s %s", k->key_name, k->help);
        return 0;
    }
    row -= rs_key_table_count;
    if (row == 0) {
        snprintf(buf, len, "commands (after :, Tab completes, Up/Down recall history)");
        return 0;
    }
    row--;
    if (row < commands) {
        const char *name, *args, *help;
        rs_command_info(row, &name, &args, &help);
        char left[64];
        snprintf(left, sizeof left, ":%s %s", name, args);
        snprintf(buf, len, "  %-18s %s", left, help);
        return 0;
    }
    row -= commands;
    if (row == 0) {
        snprintf(buf, len, "flags on object rows");
        return 0;
    }
    static const char *const flag_text[FLAG_ROWS][2] = {
        {"⟳  C", "in a reference cycle (c opens the cycle explorer)"},
        {"†  F", "has a finalizer (__del__ or tp_finalize)"},
        {"◆  L", "a closure cell, or captured by one"},
        {"✗  G", "garbage: in gc.garbage or unreachable from every root"},
    };
    const char *glyph = flag_text[row - 1][0];
    char sign[16];
    if (v->browser->unicode)
        snprintf(sign, sizeof sign, "%.*s", (int)(strchr(glyph, ' ') - glyph), glyph);
    else
        snprintf(sign, sizeof sign, "%s", strrchr(glyph, ' ') + 1);
    snprintf(buf, len, "  %s  %s", sign, flag_text[row - 1][1]);
    return 0;
}

static rs_idx help_selected(rs_view *v)
{
    (void)v;
    return RS_NONE;
}

static int help_key(rs_view *v, enum rs_action action)
{
    (void)v;
    if (action == RS_ACTION_FOLLOW)
        return RS_REACT_NONE;
    return RS_REACT_UNHANDLED;
}

const rs_view_class rs_view_help = {
    .screen = RS_SCREEN_HELP,
    .title = "help",
    .source = &source,
    .open = help_open,
    .format_row = help_format,
    .selected_node = help_selected,
    .key = help_key,
};
