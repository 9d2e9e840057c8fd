"""Hostile programs and objects that refscope must survive, one module per
kind of hostility; the Check suites (tests/test_hostile.c, test_bounded.c)
import them by name.  To add one: a module here with a function that builds
the situation and returns what the test compares."""
