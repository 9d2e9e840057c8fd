/*
 * Tests of the allocator (src/alloc.c): big blocks freed are kept for the
 * next snapshot, and a kept block handed out again must behave as a fresh
 * one: zeroed where rs_calloc() promises zeros, counted in the live
 * figures, subject to the failure hook, and bounded in what is kept.
 */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "refscope/graph.h"
#include "suites.h"

#define MIB ((size_t)1 << 20)
#define KEEP_LIMIT (256 * MIB) /* what alloc.c and graph.h promise */

/* Frees a big block full of 0xA5 bytes; true when the allocator kept it
 * (false when this kernel has no MADV_FREE, which the caller reports). */
static bool free_dirty_block(size_t size)
{
    rs_alloc_release_kept();
    unsigned char *p = rs_malloc(size);
    ck_assert_ptr_nonnull(p);
    memset(p, 0xA5, size);
    rs_free(p);
    return rs_alloc_kept_bytes() >= size;
}

/* Index of the first non-zero byte of p[0..size), or size. */
static size_t first_nonzero(const unsigned char *p, size_t size)
{
    for (size_t i = 0; i < size; i++)
        if (p[i] != 0)
            return i;
    return size;
}

/* Sizes asked of rs_calloc() after an 8 MiB block was freed dirty: the
 * same, a smaller one (the kept mapping shrinks) and a larger one (it
 * grows); all are served from the kept block. */
static const size_t calloc_sizes[] = {8 * MIB, 3 * MIB + 5, 20 * MIB + 12};

/* Check whether rs_calloc() returns zeros when it reuses a kept block full of old bytes. */
START_TEST(test_alloc_reused_block_is_zeroed)
{
    size_t size = calloc_sizes[_i];
    if (!free_dirty_block(8 * MIB)) {
        printf("alloc: this kernel keeps no freed blocks (no MADV_FREE); checking zeros only\n");
    } else {
        ck_assert_uint_gt(rs_alloc_kept_bytes(), 0);
    }
    size_t live = rs_alloc_live_bytes(), blocks = rs_alloc_live_blocks();
    unsigned char *p = rs_calloc(1, size);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(rs_alloc_kept_bytes(), 0); /* the kept block was the one used */
    ck_assert_uint_eq(rs_alloc_live_bytes(), live + size);
    ck_assert_uint_eq(rs_alloc_live_blocks(), blocks + 1);
    size_t at = first_nonzero(p, size);
    ck_assert_msg(at == size, "byte %zu of %zu is 0x%02x, not zero", at, size, at < size ? p[at] : 0);
    /* The block is usable to its end, and freeing it keeps it again. */
    memset(p, 0x5A, size);
    rs_free(p);
    ck_assert_uint_eq(rs_alloc_live_bytes(), live);
    ck_assert_uint_eq(rs_alloc_live_blocks(), blocks);
    rs_alloc_release_kept();
    ck_assert_uint_eq(rs_alloc_kept_bytes(), 0);
}
END_TEST

/* Check whether rs_malloc() and rs_realloc() hand out kept blocks that hold the bytes written through them. */
START_TEST(test_alloc_reused_block_holds_data)
{
    bool kept = free_dirty_block(6 * MIB);
    uint32_t *a = rs_malloc(4 * MIB);
    ck_assert_ptr_nonnull(a);
    if (kept)
        ck_assert_uint_eq(rs_alloc_kept_bytes(), 0);
    size_t n = 4 * MIB / sizeof *a;
    for (size_t i = 0; i < n; i++)
        a[i] = (uint32_t)(i * 2654435761u);
    /* Growing and shrinking move the mapping; the contents follow. */
    a = rs_realloc(a, 30 * MIB);
    ck_assert_ptr_nonnull(a);
    a = rs_realloc(a, 4 * MIB);
    ck_assert_ptr_nonnull(a);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(a[i] == (uint32_t)(i * 2654435761u), "word %zu changed", i);
    rs_free(a);
    rs_alloc_release_kept();
}
END_TEST

/* Check whether the blocks kept stay within 256 MiB however many are freed, and release gives them all back. */
START_TEST(test_alloc_keeps_at_most_the_limit)
{
    /* Untouched mappings: only address space, no memory. */
    enum { COUNT = 24 };
    void *blocks[COUNT];
    size_t live = rs_alloc_live_bytes();
    for (int i = 0; i < COUNT; i++) {
        blocks[i] = rs_malloc(40 * MIB);
        ck_assert_ptr_nonnull(blocks[i]);
    }
    for (int i = 0; i < COUNT; i++) {
        rs_free(blocks[i]);
        ck_assert_uint_le(rs_alloc_kept_bytes(), KEEP_LIMIT);
    }
    ck_assert_uint_eq(rs_alloc_live_bytes(), live);
    if (rs_alloc_kept_bytes() == 0)
        printf("alloc: this kernel keeps no freed blocks (no MADV_FREE); bound holds trivially\n");
    else
        ck_assert_uint_ge(rs_alloc_kept_bytes(), KEEP_LIMIT - 2 * 40 * MIB); /* the most recent ones */
    /* A block larger than the limit is never kept. */
    void *huge = rs_malloc(KEEP_LIMIT + MIB);
    ck_assert_ptr_nonnull(huge);
    size_t before = rs_alloc_kept_bytes();
    rs_free(huge);
    ck_assert_uint_eq(rs_alloc_kept_bytes(), before);
    rs_alloc_release_kept();
    ck_assert_uint_eq(rs_alloc_kept_bytes(), 0);
}
END_TEST

/* Check whether an injected failure still fails a big allocation while a block is kept, and leaves the block kept. */
START_TEST(test_alloc_failure_hook_with_kept_blocks)
{
    bool kept = free_dirty_block(8 * MIB);
    size_t before = rs_alloc_kept_bytes();
    rs_alloc_fail_after(1);
    ck_assert_ptr_null(rs_calloc(1, 8 * MIB));
    ck_assert_uint_eq(rs_alloc_kept_bytes(), before);
    rs_alloc_fail_after(2);
    void *first = rs_malloc(8 * MIB);
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_null(rs_realloc(first, 16 * MIB));
    rs_alloc_fail_after(0);
    rs_free(first);
    if (kept)
        ck_assert_uint_gt(rs_alloc_kept_bytes(), 0);
    unsigned char *p = rs_calloc(8 * MIB, 1);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(first_nonzero(p, 8 * MIB), 8 * MIB);
    rs_free(p);
    rs_alloc_release_kept();
}
END_TEST

Suite *suite_alloc(void)
{
    Suite *s = suite_create("alloc");
    TCase *tc = tcase_create("kept blocks");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_alloc_reused_block_is_zeroed, 0,
                        (int)(sizeof calloc_sizes / sizeof calloc_sizes[0]));
    tcase_add_test(tc, test_alloc_reused_block_holds_data);
    tcase_add_test(tc, test_alloc_keeps_at_most_the_limit);
    tcase_add_test(tc, test_alloc_failure_hook_with_kept_blocks);
    suite_add_tcase(s, tc);
    return s;
}
