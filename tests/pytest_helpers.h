/* Helpers for Check tests that embed the interpreter: run Python snippets in
 * __main__ (where `refscope` is imported) and read values back to assert in C. */
#ifndef REFSCOPE_TESTS_PYTEST_HELPERS_H
#define REFSCOPE_TESTS_PYTEST_HELPERS_H

#include <stddef.h>

/* Runs statements in __main__; a raised exception fails the current test
 * with its traceback text. */
void rs_py_run(const char *code);

/* Evaluates an expression in __main__ and returns it as a C long / a string
 * (static buffer, valid until the next call); an exception fails the test. */
long rs_py_long(const char *expr);
const char *rs_py_str(const char *expr);

#endif
