/* Every Check suite of the test runner; main.c runs them in this order. */
#ifndef REFSCOPE_TESTS_SUITES_H
#define REFSCOPE_TESTS_SUITES_H

#include <check.h>

#define RS_TEST_SUITES(X) \
    X(graph)              \
    X(alloc)              \
    X(scc)                \
    X(dom)                \
    X(walk)               \
    X(label)              \
    X(path)               \
    X(api)                \
    X(viewmodel)          \
    X(tui)                \
    X(trigger)            \
    X(cycles)             \
    X(analyses)           \
    X(suspects)           \
    X(versions)           \
    X(hostile)            \
    X(bounded)            \
    X(dump)               \
    X(refleak)            \
    X(dump_write)

#define RS_DECLARE_SUITE(name) Suite *suite_##name(void);
RS_TEST_SUITES(RS_DECLARE_SUITE)
#undef RS_DECLARE_SUITE

#endif
