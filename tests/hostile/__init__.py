"""Hostile programs and objects that refscope must survive, one file per
kind of hostility, so that a new one is cheap to add.  Two uses: modules
the engine suites import by name (tests/test_hostile.c, test_bounded.c,
test_label.c: closers, holders, reprs, dict_keys), each with a function
that builds the situation and returns what the test compares; and programs
the terminal suites run by path (tests/test_trigger.c: flood_clients,
fork_from_thread, hangup_browse)."""
