/*
 * View model tests: the browser's virtual lists (cursor, scrolling, sort,
 * filter, find) and the history stack, with no terminal and no Python.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "suites.h"
/* The view model is pure C inside the extension module (which exports only
 * its init function), so the test compiles its own copy. */
#include "viewmodel.c"

/* A fixture list: rows with a name and a size; rows whose name starts
 * with '#' are headings the cursor skips. */
typedef struct fixture {
    const char **names;
    const long *sizes;
    size_t count;
    size_t text_calls; /* how many rows had their text asked for */
} fixture;

static int fixture_compare(void *ctx, size_t a, size_t b, int column)
{
    fixture *f = ctx;
    if (column == 0)
        return (f->sizes[a] > f->sizes[b]) - (f->sizes[a] < f->sizes[b]);
    return strcmp(f->names[a], f->names[b]);
}

static int fixture_matches(void *ctx, size_t row, const char *pattern)
{
    fixture *f = ctx;
    f->text_calls++;
    return strcasestr(f->names[row], pattern) != NULL;
}

static bool fixture_selectable(void *ctx, size_t row)
{
    fixture *f = ctx;
    return f->names[row][0] != '#';
}

static const char *const fixture_columns[] = {"size", "name"};

static const vm_source fixture_source = {
    .compare = fixture_compare,
    .matches = fixture_matches,
    .selectable = fixture_selectable,
    .columns = fixture_columns,
    .column_count = 2,
};

static const char *names[] = {"#heading", "dict", "list", "Session", "str", "#more", "bytes", "SessionCache"};
static const long sizes[] = {0, 300, 50, 700, 20, 0, 900, 100};

static fixture make_fixture(void)
{
    fixture f = {names, sizes, sizeof names / sizeof names[0], 0};
    return f;
}

/* Check whether a new list puts the cursor on the first selectable row
 * and keeps the heading above it in view. */
START_TEST(test_viewmodel_init_skips_headings)
{
    fixture f = make_fixture();
    vm_list list;
    vm_list_init(&list, &fixture_source, &f, f.count);
    vm_list_set_height(&list, 4);
    ck_assert_uint_eq(list.cursor, 1);
    ck_assert_uint_eq(list.top, 0);
    ck_assert_uint_eq(vm_list_selected(&list), 1);
    ck_assert_ptr_null(list.order); /* no per-row memory until sorted */
    vm_list_clear(&list);
}
END_TEST

/* Check whether moving skips headings both ways and clamps at the ends. */
START_TEST(test_viewmodel_move_skips_headings_and_clamps)
{
    fixture f = make_fixture();
    vm_list list;
    vm_list_init(&list, &fixture_source, &f, f.count);
    vm_list_set_height(&list, 3);
    vm_list_move(&list, 3); /* 1 -> 4 */
    ck_assert_uint_eq(list.cursor, 4);
    vm_list_move(&list, 1); /* 5 is a heading: lands on 6 */
    ck_assert_uint_eq(list.cursor, 6);
    vm_list_move(&list, -1); /* back over the heading */
    ck_assert_uint_eq(list.cursor, 4);
    vm_list_move(&list, 100);
    ck_assert_uint_eq(list.cursor, 7);
    ck_assert_uint_eq(list.top, 5); /* last row at the bottom of the window */
    vm_list_move(&list, -100); /* row 0 is a heading: stops at 1 */
    ck_assert_uint_eq(list.cursor, 1);
    ck_assert_uint_le(list.top, 1);
    vm_list_clear(&list);
}
END_TEST

/* Check whether sorting orders rows by the column, both ways, and keeps
 * the selected row selected. */
START_TEST(test_viewmodel_sort_keeps_selection)
{
    fixture f = make_fixture();
    vm_list list;
    vm_list_init(&list, &fixture_source, &f, f.count);
    vm_list_set_height(&list, 10);
    vm_list_move(&list, 2); /* "Session" (row 3) */
    ck_assert_uint_eq(vm_list_selected(&list), 3);
    ck_assert_int_eq(vm_list_sort(&list, 0, true), 0);
    /* By size, biggest first: bytes 900, Session 700, dict 300, ... */
    ck_assert_uint_eq(vm_list_row(&list, 0), 6);
    ck_assert_uint_eq(vm_list_row(&list, 1), 3);
    ck_assert_uint_eq(vm_list_row(&list, 2), 1);
    ck_assert_uint_eq(vm_list_selected(&list), 3);
    ck_assert_uint_eq(list.cursor, 1);
    ck_assert_int_eq(vm_list_sort(&list, 0, false), 0);
    for (size_t pos = 1; pos < list.count; pos++)
        ck_assert_int_le(sizes[vm_list_row(&list, pos - 1)], sizes[vm_list_row(&list, pos)]);
    ck_assert_uint_eq(vm_list_selected(&list), 3);
    /* Back to the view's order. */
    ck_assert_int_eq(vm_list_sort(&list, -1, false), 0);
    ck_assert_ptr_null(list.order);
    ck_assert_uint_eq(vm_list_selected(&list), 3);
    vm_list_clear(&list);
}
END_TEST

/* Check whether sort_next walks the columns, descending, then unsorts. */
START_TEST(test_viewmodel_sort_next_cycles_columns)
{
    fixture f = make_fixture();
    vm_list list;
    vm_list_init(&list, &fixture_source, &f, f.count);
    static const int expected[] = {0, 1, -1, 0};
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        ck_assert_int_eq(vm_list_sort_next(&list), 0);
        ck_assert_int_eq(list.sort_column, expected[i]);
    }
    ck_assert(list.sort_descending);
    vm_list_clear(&list);
}
END_TEST

/* Check whether filtering shows only matching rows (case-insensitive),
 * combines with the sort, and an empty pattern shows all again. */
START_TEST(test_viewmodel_filter)
{
    fixture f = make_fixture();
    vm_list list;
    vm_list_init(&list, &fixture_source, &f, f.count);
    vm_list_set_height(&list, 10);
    ck_assert_int_eq(vm_list_filter(&list, "session"), 0);
    ck_assert_uint_eq(list.count, 2);
    ck_assert_uint_eq(vm_list_row(&list, 0), 3);
    ck_assert_uint_eq(vm_list_row(&list, 1), 7);
    ck_assert_str_eq(list.filter, "session");
    ck_assert_int_eq(vm_list_sort(&list, 0, false), 0); /* SessionCache 100 before Session 700 */
    ck_assert_uint_eq(list.count, 2);
    ck_assert_uint_eq(vm_list_row(&list, 0), 7);
    ck_assert_int_eq(vm_list_filter(&list, "no such row"), 0);
    ck_assert_uint_eq(list.count, 0);
    ck_assert_uint_eq(vm_list_selected(&list), SIZE_MAX);
    ck_assert_int_eq(vm_list_filter(&list, ""), 0);
    ck_assert_uint_eq(list.count, f.count);
    ck_assert_int_eq(list.sort_column, 0); /* the sort stays */
    vm_list_clear(&list);
}
END_TEST

/* Check whether find moves to the next and previous match, wrapping. */
START_TEST(test_viewmodel_find_next_previous)
{
    fixture f = make_fixture();
    vm_list list;
    vm_list_init(&list, &fixture_source, &f, f.count);
    vm_list_set_height(&list, 10);
    ck_assert_int_eq(vm_list_find(&list, "s", 1), 1); /* from dict: list */
    ck_assert_uint_eq(list.cursor, 2);
    ck_assert_int_eq(vm_list_find(&list, "session", 1), 1);
    ck_assert_uint_eq(list.cursor, 3);
    ck_assert_int_eq(vm_list_find(&list, "session", 1), 1);
    ck_assert_uint_eq(list.cursor, 7);
    ck_assert_int_eq(vm_list_find(&list, "session", 1), 1); /* wraps */
    ck_assert_uint_eq(list.cursor, 3);
    ck_assert_int_eq(vm_list_find(&list, "session", -1), 1); /* wraps back */
    ck_assert_uint_eq(list.cursor, 7);
    ck_assert_int_eq(vm_list_find(&list, "zzz", 1), 0);
    ck_assert_uint_eq(list.cursor, 7);
    vm_list_clear(&list);
}
END_TEST

static int never_compare(void *ctx, size_t a, size_t b, int column)
{
    (void)ctx;
    (void)column;
    return (a > b) - (a < b);
}

static int counting_matches(void *ctx, size_t row, const char *pattern)
{
    (void)pattern;
    (*(size_t *)ctx)++;
    return row % 2 == 0;
}

static const vm_source big_source = {.compare = never_compare, .matches = counting_matches, .column_count = 1,
                                      .columns = fixture_columns};

/* Check whether a million-row list is virtual: opening, paging and jumping
 * to the end ask for no row at all, and the window always holds the
 * cursor. */
START_TEST(test_viewmodel_virtual_scrolling)
{
    size_t asked = 0;
    vm_list list;
    vm_list_init(&list, &big_source, &asked, 1000000);
    vm_list_set_height(&list, 25);
    for (int i = 0; i < 1000; i++)
        vm_list_move(&list, 24);
    ck_assert_uint_eq(list.cursor, 24000);
    ck_assert(list.top <= list.cursor && list.cursor < list.top + 25);
    vm_list_move_to(&list, 999999);
    ck_assert_uint_eq(list.cursor, 999999);
    ck_assert_uint_eq(list.top, 999999 - 24);
    vm_list_scroll(&list, -10); /* the wheel: window moves, cursor follows */
    ck_assert_uint_eq(list.top, 999999 - 34);
    ck_assert_uint_eq(list.cursor, 999999 - 10);
    vm_list_scroll(&list, -2000000);
    ck_assert_uint_eq(list.top, 0);
    ck_assert_uint_eq(list.cursor, 24);
    ck_assert(vm_list_select_row(&list, 500000));
    ck_assert_uint_eq(list.cursor, 500000);
    ck_assert_uint_eq(asked, 0);
    ck_assert_ptr_null(list.order);
    /* Resizing keeps the cursor in the window. */
    vm_list_set_height(&list, 5);
    ck_assert(list.top <= list.cursor && list.cursor < list.top + 5);
    vm_list_clear(&list);
}
END_TEST

/* Check whether the history stack pops in reverse order, drops the oldest
 * place when full, and a saved place restores cursor, scroll, sort and
 * filter on a rebuilt list. */
START_TEST(test_viewmodel_history_stack)
{
    vm_history h;
    vm_history_init(&h);
    vm_place p = {0}, out;
    ck_assert(!vm_history_pop(&h, &out));
    for (int i = 0; i < VM_HISTORY_MAX + 10; i++) {
        p.screen = i;
        p.arg = (uint64_t)i * 10;
        vm_history_push(&h, &p);
    }
    ck_assert_uint_eq(vm_history_depth(&h), VM_HISTORY_MAX);
    for (int i = VM_HISTORY_MAX + 9; i >= 10; i--) {
        ck_assert(vm_history_pop(&h, &out));
        ck_assert_int_eq(out.screen, i);
        ck_assert_uint_eq(out.arg, (uint64_t)i * 10);
    }
    ck_assert(!vm_history_pop(&h, &out));

    fixture f = make_fixture();
    vm_list list;
    vm_list_init(&list, &fixture_source, &f, f.count);
    vm_list_set_height(&list, 3);
    ck_assert_int_eq(vm_list_filter(&list, "s"), 0);
    ck_assert_int_eq(vm_list_sort(&list, 0, true), 0);
    vm_list_move(&list, 2);
    size_t selected = vm_list_selected(&list);
    vm_place saved = {.screen = 2, .arg = 7};
    vm_place_save_list(&saved, &list);
    vm_history_push(&h, &saved);
    vm_list_clear(&list);

    ck_assert(vm_history_pop(&h, &out));
    vm_list fresh;
    vm_list_init(&fresh, &fixture_source, &f, f.count);
    vm_list_set_height(&fresh, 3);
    ck_assert_int_eq(vm_place_restore_list(&out, &fresh), 0);
    ck_assert_str_eq(fresh.filter, "s");
    ck_assert_int_eq(fresh.sort_column, 0);
    ck_assert(fresh.sort_descending);
    ck_assert_uint_eq(vm_list_selected(&fresh), selected);
    ck_assert_uint_eq(fresh.top, saved.top);
    vm_list_clear(&fresh);
}
END_TEST

/* A tree listed parent first: thread, its frames, their locals. */
static const char *tree_names[] = {"thread main", "frame main()", "local x", "local big_config", "frame run()",
                                   "local y",     "thread worker", "frame work()", "local config"};
static const size_t tree_parents[] = {SIZE_MAX, 0, 1, 1, 0, 4, SIZE_MAX, 6, 7};

static size_t tree_parent(void *ctx, size_t row)
{
    (void)ctx;
    return tree_parents[row];
}

static int tree_matches(void *ctx, size_t row, const char *pattern)
{
    (void)ctx;
    return strcasestr(tree_names[row], pattern) != NULL;
}

static const vm_source tree_source = {.matches = tree_matches, .parent = tree_parent};

/* Check whether a filter on a tree-shaped list keeps the parent rows of
 * each match (thread and frame of a local), once each and in order. */
START_TEST(test_viewmodel_filter_keeps_parents)
{
    vm_list list;
    size_t n = sizeof tree_names / sizeof tree_names[0];
    vm_list_init(&list, &tree_source, NULL, n);
    ck_assert_int_eq(vm_list_filter(&list, "config"), 0);
    size_t want[] = {0, 1, 3, 6, 7, 8};
    ck_assert_uint_eq(list.count, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < list.count; i++)
        ck_assert_uint_eq(vm_list_row(&list, i), want[i]);
    /* A match that is itself a parent is not listed twice. */
    ck_assert_int_eq(vm_list_filter(&list, "main"), 0);
    size_t want2[] = {0, 1};
    ck_assert_uint_eq(list.count, 2);
    for (size_t i = 0; i < list.count; i++)
        ck_assert_uint_eq(vm_list_row(&list, i), want2[i]);
    vm_list_clear(&list);
}
END_TEST

static int stop_after(void *ctx, size_t done, size_t total)
{
    size_t *calls = ctx;
    ck_assert_uint_le(done, total);
    return ++*calls >= 2;
}

static int always_matches(void *ctx, size_t row, const char *pattern)
{
    (void)ctx;
    (void)row;
    (void)pattern;
    return 1;
}

/* Check whether a long filter reports progress every VM_PROGRESS_ROWS rows
 * and, when told to stop, leaves the list as it was. */
START_TEST(test_viewmodel_filter_progress_stops)
{
    static const vm_source every = {.matches = always_matches};
    vm_list list;
    size_t total = 5 * VM_PROGRESS_ROWS;
    vm_list_init(&list, &every, NULL, total);
    size_t calls = 0;
    ck_assert_int_eq(vm_list_filter_progress(&list, "x", stop_after, &calls), 1);
    ck_assert_uint_eq(calls, 2);
    ck_assert_uint_eq(list.count, total);
    ck_assert_str_eq(list.filter, "");
    ck_assert_ptr_null(list.order);
    calls = 0;
    ck_assert_int_eq(vm_list_filter_progress(&list, "x", NULL, NULL), 0);
    ck_assert_str_eq(list.filter, "x");
    vm_list_clear(&list);
}
END_TEST

/* Rows compared by a key that runs backwards (row 0 the biggest), with
 * ties every 3 rows to show that the sort keeps the view's order. */
static int by_key_backwards(void *ctx, size_t a, size_t b, int column)
{
    (void)ctx;
    (void)column;
    size_t ka = a / 3, kb = b / 3;
    return (ka < kb) - (ka > kb);
}

typedef struct sort_calls {
    size_t calls, last_done, stop_at;
} sort_calls;

static int count_sort_progress(void *ctx, size_t done, size_t total)
{
    sort_calls *c = ctx;
    ck_assert_uint_le(done, total);
    ck_assert_uint_ge(done, c->last_done); /* it only goes forward */
    c->last_done = done;
    return ++c->calls == c->stop_at;
}

/* Check whether a long sort reports its progress, in rows, going forward,
 * sorts as vm_list_sort() does (ties in the view's order), and, when told
 * to stop, leaves the list as it was. */
START_TEST(test_viewmodel_sort_progress_stops)
{
    static const char *const names[] = {"key"};
    static const vm_source backwards = {.compare = by_key_backwards, .columns = names, .column_count = 1};
    vm_list list;
    size_t total = 40 * VM_PROGRESS_ROWS + 7;
    vm_list_init(&list, &backwards, NULL, total);
    sort_calls c = {.stop_at = 3};
    ck_assert_int_eq(vm_list_sort_progress(&list, 0, false, count_sort_progress, &c), 1);
    ck_assert_uint_eq(c.calls, 3);
    ck_assert_ptr_null(list.order);
    ck_assert_int_eq(list.sort_column, -1);
    c = (sort_calls){.stop_at = 0};
    ck_assert_int_eq(vm_list_sort_progress(&list, 0, false, count_sort_progress, &c), 0);
    /* One pass over the rows per doubling: more calls than rows/256. */
    ck_assert_uint_ge(c.calls, total / VM_PROGRESS_ROWS);
    ck_assert_int_eq(list.sort_column, 0);
    for (size_t pos = 1; pos < list.count; pos++) {
        size_t x = vm_list_row(&list, pos - 1), y = vm_list_row(&list, pos);
        ck_assert_int_le(by_key_backwards(NULL, x, y, 0), 0);
        if (x / 3 == y / 3)
            ck_assert_uint_lt(x, y);
    }
    vm_list_clear(&list);
}
END_TEST

/* Check whether the history lists its places oldest first and drops the
 * newest ones (jumping back to a breadcrumb). */
START_TEST(test_viewmodel_history_at_and_drop)
{
    vm_history h;
    vm_history_init(&h);
    for (int i = 0; i < VM_HISTORY_MAX + 3; i++) {
        vm_place p = {.screen = i};
        vm_history_push(&h, &p);
    }
    ck_assert_uint_eq(vm_history_depth(&h), VM_HISTORY_MAX);
    ck_assert_int_eq(vm_history_at(&h, 0)->screen, 3);
    ck_assert_int_eq(vm_history_at(&h, VM_HISTORY_MAX - 1)->screen, VM_HISTORY_MAX + 2);
    vm_history_drop(&h, 10);
    vm_place top;
    ck_assert(vm_history_pop(&h, &top));
    ck_assert_int_eq(top.screen, VM_HISTORY_MAX + 2 - 10);
    vm_history_drop(&h, 100000);
    ck_assert_uint_eq(vm_history_depth(&h), 0);
}
END_TEST

Suite *suite_viewmodel(void)
{
    Suite *s = suite_create("viewmodel");
    TCase *tc = tcase_create("viewmodel");
    tcase_add_test(tc, test_viewmodel_init_skips_headings);
    tcase_add_test(tc, test_viewmodel_move_skips_headings_and_clamps);
    tcase_add_test(tc, test_viewmodel_sort_keeps_selection);
    tcase_add_test(tc, test_viewmodel_sort_next_cycles_columns);
    tcase_add_test(tc, test_viewmodel_filter);
    tcase_add_test(tc, test_viewmodel_find_next_previous);
    tcase_add_test(tc, test_viewmodel_virtual_scrolling);
    tcase_add_test(tc, test_viewmodel_history_stack);
    tcase_add_test(tc, test_viewmodel_filter_keeps_parents);
    tcase_add_test(tc, test_viewmodel_filter_progress_stops);
    tcase_add_test(tc, test_viewmodel_sort_progress_stops);
    tcase_add_test(tc, test_viewmodel_history_at_and_drop);
    suite_add_tcase(s, tc);
    return s;
}
