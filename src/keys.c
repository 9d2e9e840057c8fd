/*
 * The key table (htop's Action.c style): the one list of keys.  Dispatch
 * looks keys up here, the help screen prints it and the function bar takes
 * the rows that have a bar label, so the three can never disagree.
 */
#include "view.h"

const rs_key_binding rs_key_table[] = {
    {'?', "?", RS_ACTION_HELP, "show this help (every key and command)", "Help"},
    {UI_KEY_F1, "F1", RS_ACTION_HELP, "show this help", NULL},
    {'1', "1", RS_ACTION_SUMMARY, "summary: the leak suspects (home screen)", "Sum"},
    {'2', "2", RS_ACTION_TYPES, "types: count, size and retained size per type", "Types"},
    {'3', "3", RS_ACTION_CYCLES, "cycles: reference cycles, biggest first", "Cycles"},
    {'4', "4", RS_ACTION_GARBAGE, "garbage: gc.garbage, finalizers in cycles, unreachable cycles", "Garb"},
    {'5', "5", RS_ACTION_CLOSURES, "closures: functions and the variables they capture", "Clos"},
    {'6', "6", RS_ACTION_THREADS, "threads: every thread's frames and their locals", "Thr"},
    {'7', "7", RS_ACTION_GROWTH, "growth: what is new since :mark", "Grow"},
    {UI_KEY_ENTER, "Enter", RS_ACTION_FOLLOW, "follow the selected row (open it)", NULL},
    {UI_KEY_RIGHT, "Right", RS_ACTION_FOLLOW, "follow the selected row", NULL},
    {'l', "l", RS_ACTION_FOLLOW, "follow the selected row", NULL},
    {UI_KEY_BACKSPACE, "Backspace", RS_ACTION_BACK, "go back to the previous screen", NULL},
    {'h', "h", RS_ACTION_BACK, "go back to the previous screen", NULL},
    {UI_KEY_LEFT, "Left", RS_ACTION_BACK, "go back to the previous screen", NULL},
    {'q', "q", RS_ACTION_QUIT, "leave this screen; on the first screen, leave the browser", "Quit"},
    {'Q', "Q", RS_ACTION_LEAVE, "leave the browser at once (the program goes on)", NULL},
    {UI_KEY_CTRL_C, "Ctrl-C", RS_ACTION_LEAVE, "leave the browser at once", NULL},
    {UI_KEY_UP, "Up", RS_ACTION_UP, "move up", NULL},
    {'k', "k", RS_ACTION_UP, "move up", NULL},
    {UI_KEY_DOWN, "Down", RS_ACTION_DOWN, "move down", NULL},
    {'j', "j", RS_ACTION_DOWN, "move down", NULL},
    {UI_KEY_PAGE_UP, "PgUp", RS_ACTION_PAGE_UP, "one page up", NULL},
    {UI_KEY_PAGE_DOWN, "PgDn", RS_ACTION_PAGE_DOWN, "one page down", NULL},
    {' ', "Space", RS_ACTION_PAGE_DOWN, "one page down", NULL},
    {UI_KEY_HOME, "Home", RS_ACTION_HOME, "first row", NULL},
    {'g', "g", RS_ACTION_HOME, "first row", NULL},
    {UI_KEY_END, "End", RS_ACTION_END, "last row", NULL},
    {'G', "G", RS_ACTION_END, "last row", NULL},
    {'/', "/", RS_ACTION_FILTER, "filter the list by text (starts empty: Enter shows all; Up: older ones)",
     "Filter"},
    {'f', "f", RS_ACTION_FIND, "find: jump to the next row matching text, hiding no row (Up: older ones)", NULL},
    {'n', "n", RS_ACTION_NEXT_MATCH, "next row matching the find or filter text", NULL},
    {'N', "N", RS_ACTION_PREV_MATCH, "previous row matching the find or filter text", NULL},
    {'s', "s", RS_ACTION_SORT, "sort by the next column (again: the next one, then unsorted)", "Sort"},
    {'S', "S", RS_ACTION_SORT_REVERSE, "reverse the sort order (biggest first <-> smallest first)", NULL},
    {'p', "p", RS_ACTION_PATH, "path: why the selected object is alive, from a root", "Path", "path"},
    {'c', "c", RS_ACTION_CYCLE, "cycle explorer for the selected object's cycle", NULL, "cycle"},
    {'r', "r", RS_ACTION_RETAINED, "retained set: what freeing the selected object would free", NULL, "retained"},
    {'a', "a", RS_ACTION_ALLOCATION, "allocation traceback of the selected object (needs tracemalloc)", NULL,
     "allocation"},
    {'v', "v", RS_ACTION_VALUE, "value: the selected object's full repr, string or traceback in a pane", NULL,
     "value"},
    {'y', "y", RS_ACTION_COPY_PATH, "copy the selected object's why-alive path (OSC 52; printed on exit)", NULL,
     "copy path"},
    {UI_KEY_TAB, "Tab", RS_ACTION_OTHER_SECTION, "object screen: jump between what it holds and what holds it",
     NULL, "held by"},
    {'b', "b", RS_ACTION_CRUMBS, "jump back to a breadcrumb: b then its number (Enter ends a number that could go on)", NULL, "crumbs"},
    {'H', "H", RS_ACTION_STDLIB, "closures, threads: show or hide the standard library's rows (hidden at first)",
     NULL},
    {'=', "=", RS_ACTION_GROUP,
     "object, instances: fold rows held the same way into one (on at first) or list each", NULL},
    {'<', "<", RS_ACTION_SCROLL_LEFT, "scroll the rows left", NULL},
    {'>', ">", RS_ACTION_SCROLL_RIGHT, "scroll the rows right (read what is cut at the edge)", NULL},
    {':', ":", RS_ACTION_COMMAND, "command line (:help lists the commands)", "Cmd"},
    {12, "Ctrl-L", RS_ACTION_REDRAW, "redraw the screen", NULL},
    {26, "Ctrl-Z", RS_ACTION_SUSPEND, "suspend the program, as a shell job (fg brings the browser back)", NULL},
};

const size_t rs_key_table_count = sizeof rs_key_table / sizeof rs_key_table[0];

enum rs_action rs_key_action(int key)
{
    for (size_t i = 0; i < rs_key_table_count; i++)
        if (rs_key_table[i].key == key)
            return rs_key_table[i].action;
    return RS_ACTION_NONE;
}

static const rs_key_binding *binding_of(enum rs_action action)
{
    for (size_t i = 0; i < rs_key_table_count; i++)
        if (rs_key_table[i].action == action)
            return &rs_key_table[i];
    return NULL;
}

const char *rs_key_name(enum rs_action action)
{
    const rs_key_binding *k = binding_of(action);
    return k ? k->key_name : "?";
}

const char *rs_key_hint(const enum rs_action *actions, size_t count, char *buf, size_t len)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < count && pos < len; i++) {
        const rs_key_binding *k = binding_of(actions[i]);
        if (k == NULL || k->hint == NULL)
            continue;
        int n = snprintf(buf + pos, len - pos, "%s%s %s", pos ? "  " : "", k->key_name, k->hint);
        if (n < 0)
            break;
        pos += (size_t)n;
    }
    return buf;
}
