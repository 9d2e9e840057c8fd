# refscope — plain Makefile.  `make` builds the Python package into build/lib
# (PYTHONPATH=build/lib python3 -c 'import refscope'), `make check` runs every
# test, `make demo` shows refscope on the bundled leaky example.
# `make PYTHON=/path/to/python3.13 BUILD=build/py3.13` builds for another
# supported interpreter (3.11, 3.12, 3.13); `make check-all` tests them all.

PYTHON ?= python3
DEBIAN_DEPS = build-essential pkg-config python3-dev libncurses-dev libedit-dev check tmux python3-objgraph

PY := $(shell command -v $(PYTHON) 2>/dev/null)
PY_INCLUDE := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null)
PY_EXT_SUFFIX := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))' 2>/dev/null)
PY_LIBDIR := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))' 2>/dev/null)
PY_LDVERSION := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("LDVERSION"))' 2>/dev/null)
PY_EXE := $(shell $(PYTHON) -c 'import sys; print(sys.executable)' 2>/dev/null)
PY_VERSION := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_python_version())' 2>/dev/null)
PY_PLATLIB := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])' 2>/dev/null)
# The default python3 builds into build/; another one named on the command
# line (make bench PYTHON=python3.13) into build/py3.X, beside it.
ifeq ($(origin PYTHON),command line)
BUILD ?= build/py$(PY_VERSION)
else
BUILD ?= build
endif
VERSION := $(shell sed -n 's/^\#define REFSCOPE_VERSION "\(.*\)"/\1/p' src/module.c)
PREFIX ?= /usr/local
DESTDIR ?=

PKGS = ncursesw libedit
PKG_CFLAGS = $(filter-out -D%,$(shell pkg-config --cflags $(PKGS) 2>/dev/null))
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)

OPT ?= -O2 -flto=auto
SAN ?=
CC ?= cc
WARN = -Wall -Wextra -Werror -Wno-missing-field-initializers
BASE_CFLAGS = -std=c11 $(OPT) -g $(WARN) -fPIC -fvisibility=hidden -D_GNU_SOURCE -Iinclude $(SAN) $(CFLAGS)
LDFLAGS_ALL = $(SAN) $(LDFLAGS)

# The layering (DESIGN.md section 2) is a compile error, not a convention:
# each layer is compiled with only what it may include.  Python's headers are
# system headers (-isystem), so warnings inside them (3.13 has some) do not
# trip -Werror.
#   graph core        include/ only: no Python.h, no src/ headers
#   pyinternal*.c     Python with Py_BUILD_CORE, which most internal/pycore_*.h
#                     headers require (`make layering`, run by `make check`,
#                     catches the rest and any _Py name by grep)
#   ui.c              the only file that sees curses.h (everywhere else the
#                     header's include guard is predefined, so any curses
#                     call is an undeclared function)
#   the command       src/ headers, no Python, no curses
PY_CFLAGS = -isystem $(PY_INCLUDE)
NO_CURSES = -D__NCURSES_H
CORE_CFLAGS = $(BASE_CFLAGS) $(NO_CURSES)
ENGINE_CFLAGS = $(BASE_CFLAGS) -Isrc $(PY_CFLAGS) $(NO_CURSES)
INTERNAL_CFLAGS = $(BASE_CFLAGS) -Isrc $(PY_CFLAGS) -DPy_BUILD_CORE $(NO_CURSES)
UI_CFLAGS = $(BASE_CFLAGS) -Isrc $(PY_CFLAGS) $(PKG_CFLAGS)
CLI_CFLAGS = $(BASE_CFLAGS) -Isrc $(NO_CURSES)
TEST_CFLAGS = $(BASE_CFLAGS) -Isrc $(PY_CFLAGS) $(CHECK_CFLAGS)

# Graph core and pure-C analyses: no Python.h.
CORE_SRC = src/alloc.c src/graph.c src/scc.c src/dom.c
# Everything that needs the interpreter; ends up in the extension module.
ENGINE_SRC = $(filter-out $(CORE_SRC) src/cli.c src/inject.c, $(wildcard src/*.c))
MODULE_SRC = $(CORE_SRC) $(ENGINE_SRC)
INTERNAL_SRC = $(wildcard src/pyinternal*.c)
TEST_SRC = $(wildcard tests/*.c)

OBJDIR = $(BUILD)/obj
MODULE_OBJ = $(MODULE_SRC:src/%.c=$(OBJDIR)/%.o)
CORE_OBJ = $(CORE_SRC:src/%.c=$(OBJDIR)/%.o)
TEST_OBJ = $(TEST_SRC:tests/%.c=$(OBJDIR)/tests/%.o)
PKGDIR = $(BUILD)/lib/refscope
MODULE_SO = $(PKGDIR)/_refscope$(PY_EXT_SUFFIX)
PKG_PY = $(PKGDIR)/__init__.py $(PKGDIR)/__main__.py $(PKGDIR)/stored.py $(PKGDIR)/dumpreport.py
# The `refscope` command: not part of the module.
CLI_BIN = $(BUILD)/bin/refscope
CLI_OBJ = $(OBJDIR)/cli.o $(OBJDIR)/attach.o $(OBJDIR)/inject.o
TEST_BIN = $(BUILD)/refscope-tests

.PHONY: all deps check check-all import-check layering asan-check valgrind-check refleak-check bench demo clean install \
	uninstall FORCE
all: $(MODULE_SO) $(PKG_PY) $(CLI_BIN)

# Which interpreter this build directory was built for.  Rewritten only when
# it changes, and everything that depends on the interpreter depends on it:
# `make install PYTHON=other` rebuilds the module and the command (which
# embeds the interpreter's path) instead of installing stale ones.
PY_STAMP = $(BUILD)/python.stamp
PY_STAMP_TEXT = $(PY_EXE) $(PY_VERSION) $(PY_INCLUDE)
$(PY_STAMP): FORCE
	@test -n "$(PY_INCLUDE)" || { echo "refscope: cannot run $(PYTHON) (set PYTHON=/path/to/python3.11, 3.12 or 3.13)"; exit 1; }
	@mkdir -p $(dir $@)
	@echo '$(PY_STAMP_TEXT)' | cmp -s - $@ || echo '$(PY_STAMP_TEXT)' > $@

# Installs the Debian build dependencies when something is missing (as root),
# or says exactly what to install.
deps:
	@missing=""; \
	pkg-config --exists ncursesw libedit check 2>/dev/null || missing=1; \
	[ -n "$(PY)" ] && [ -f "$(PY_INCLUDE)/internal/pycore_frame.h" ] || missing=1; \
	command -v tmux >/dev/null || missing=1; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "refscope: installing build dependencies: $(DEBIAN_DEPS)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBIAN_DEPS) >/dev/null; \
	  else \
	    echo "refscope: missing build dependencies; run: sudo apt-get install $(DEBIAN_DEPS)"; exit 1; \
	  fi; \
	fi

# `make V=1` shows whole command lines.
Q = $(if $(V),,@)

# Per-file flags: the layer a file belongs to decides what it may include.
$(CORE_OBJ): LAYER_CFLAGS = $(CORE_CFLAGS)
$(filter-out $(CORE_OBJ),$(MODULE_OBJ)): LAYER_CFLAGS = $(ENGINE_CFLAGS)
$(INTERNAL_SRC:src/%.c=$(OBJDIR)/%.o): LAYER_CFLAGS = $(INTERNAL_CFLAGS)
$(OBJDIR)/ui.o: LAYER_CFLAGS = $(UI_CFLAGS)
$(CLI_OBJ): LAYER_CFLAGS = $(CLI_CFLAGS)
$(filter-out $(CORE_OBJ),$(MODULE_OBJ)) $(CLI_OBJ) $(TEST_OBJ): $(PY_STAMP)

$(OBJDIR)/%.o: src/%.c
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC      $<")
	$(Q)$(CC) $(LAYER_CFLAGS) -MMD -MP -c $< -o $@

$(OBJDIR)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC      $<")
	$(Q)$(CC) $(TEST_CFLAGS) -DRS_PYTHON_EXE='"$(PY_EXE)"' \
		-DRS_BUILD_LIB='"$(abspath $(BUILD)/lib)"' -DRS_SOURCE_DIR='"$(CURDIR)"' -MMD -MP -c $< -o $@

# The extension does not link libpython: the interpreter that loads it provides it.
$(MODULE_SO): $(MODULE_OBJ) $(PY_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) -shared $(LDFLAGS_ALL) -o $@ $(MODULE_OBJ) $(PKG_LIBS)

$(OBJDIR)/cli.o: LAYER_CFLAGS += -DREFSCOPE_VERSION='"$(VERSION)"' -DRS_PYTHON_EXE='"$(PY_EXE)"' \
	-DRS_PYTHON_VERSION='"$(PY_VERSION)"'

$(CLI_BIN): $(CLI_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^

$(PKGDIR)/%.py: src/python/%.py $(PY_STAMP)
	@mkdir -p $(dir $@)
	$(Q)cp $< $@

$(TEST_BIN): $(TEST_OBJ) $(CORE_OBJ) $(OBJDIR)/inject.o $(MODULE_SO) $(PKG_PY)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(TEST_OBJ) $(CORE_OBJ) $(OBJDIR)/inject.o $(CHECK_LIBS) \
		-L$(PY_LIBDIR) -Wl,-rpath,$(PY_LIBDIR) -lpython$(PY_LDVERSION) -lpthread -lm -ldl -lutil

# The trigger tests drive the command.
$(TEST_BIN): $(CLI_BIN)

check: deps layering
	@$(MAKE) --no-print-directory $(TEST_BIN)
	@$(MAKE) --no-print-directory import-check
	$(TEST_BIN)

# Importing is the only check for symbols the module needs but libpython
# does not export (the module does not link libpython; 3.12's
# _PyInterpreterState_GET() needs the unexported _Py_tss_tstate).
import-check: all
	PYTHONPATH=$(BUILD)/lib $(PY) -c 'import refscope, sys; refscope.snapshot().close(); \
		print("refscope: imports and snapshots on CPython", sys.version.split()[0])'

# No file but pyinternal*.c reads CPython internals (_Py* names, pycore_*
# headers, Py_BUILD_CORE); the compiler catches the headers, this the names.
layering:
	@bad=$$(grep -nE '(^|[^A-Za-z0-9_])_Py[A-Za-z_]|pycore_|Py_BUILD_CORE' \
		$(filter-out $(INTERNAL_SRC) src/pyinternal%.h,$(wildcard src/*.c src/*.h)) || true); \
	if [ -n "$$bad" ]; then echo "refscope: CPython internals used outside src/pyinternal*:"; \
	  echo "$$bad"; exit 1; fi

# `make check` for every supported interpreter on the machine, each in its own
# build directory (build/py3.X).  PYTHONS="a b" names them; by default
# tests/find-pythons finds CPython 3.11, 3.12 and 3.13 (python3 on PATH, pyenv)
# and says which it did not find.  Then tests/leak_answers.py must print the
# same paths, cycles and retained sets on every version, and a dump of the
# example written by each version (tests/dump_answers.py) must give its
# writer's answers when each version's build reads it.
PYTHONS ?= $(shell tests/find-pythons)
check-all:
	@test -n "$(strip $(PYTHONS))" || { echo "refscope: no supported Python (3.11, 3.12, 3.13) found"; exit 1; }
	@tested=""; first=""; builds=""; for py in $(PYTHONS); do \
	  v=$$($$py -c 'import sys; print("%d.%d" % sys.version_info[:2])') || exit 1; \
	  echo "refscope: make check with $$py (CPython $$v) in $(BUILD)/py$$v"; \
	  $(MAKE) --no-print-directory PYTHON=$$py BUILD=$(BUILD)/py$$v check || exit 1; \
	  tested="$$tested $$($$py -c 'import sys; print(sys.version.split()[0])')"; \
	  PYTHONPATH=$(BUILD)/py$$v/lib $$py tests/leak_answers.py > $(BUILD)/py$$v/leak-answers.txt || exit 1; \
	  if [ -z "$$first" ]; then first=$(BUILD)/py$$v/leak-answers.txt; \
	  elif ! diff -u $$first $(BUILD)/py$$v/leak-answers.txt; then \
	    echo "refscope: CPython $$v answers differently about examples/leaky_service.py (above)"; exit 1; fi; \
	  PYTHONPATH=$(BUILD)/py$$v/lib $$py tests/dump_answers.py write $(BUILD)/py$$v/leak.rsd \
	    > $(BUILD)/py$$v/dump-answers.txt || exit 1; \
	  builds="$$builds $$v=$$py"; \
	done; \
	for writer in $$builds; do w=$${writer%%=*}; for reader in $$builds; do r=$${reader%%=*}; \
	  PYTHONPATH=$(BUILD)/py$$r/lib $${reader#*=} tests/dump_answers.py read $(BUILD)/py$$w/leak.rsd \
	    > $(BUILD)/py$$w/dump-read-by-$$r.txt || exit 1; \
	  if ! diff -u $(BUILD)/py$$w/dump-answers.txt $(BUILD)/py$$w/dump-read-by-$$r.txt; then \
	    echo "refscope: a dump written on CPython $$w answers differently when CPython $$r reads it (above)"; exit 1; fi; \
	done; done; \
	echo "refscope: make check passed on CPython$$tested, with the same answers about examples/leaky_service.py;" \
	  "a dump written on each reads back with its writer's answers on each"

# ASan+UBSan build of module and tests in its own build dir.  Python's own
# allocator hides heap errors from ASan, hence PYTHONMALLOC=malloc; leak
# detection is off because the interpreter keeps memory until exit by design.
asan-check: deps
	@$(MAKE) --no-print-directory PYTHON=$(PYTHON) BUILD=$(BUILD)/asan OPT=-O1 \
		SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
		$(BUILD)/asan/refscope-tests
	PYTHONMALLOC=malloc ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $(BUILD)/asan/refscope-tests

# Valgrind over the whole suite (about an hour on a busy 2-core machine):
# invalid accesses and definite leaks are errors.  Uninitialised-value
# tracking is off because CPython 3.11 itself produces values valgrind
# believes uninitialised (see tests/valgrind.supp); ASan and UBSan (make
# asan-check) cover the rest.
valgrind-check: deps
	@$(MAKE) --no-print-directory $(TEST_BIN)
	CK_TIMEOUT_MULTIPLIER=20 PYTHONMALLOC=malloc valgrind --quiet --error-exitcode=99 \
		--undef-value-errors=no --leak-check=full --errors-for-leak-kinds=definite \
		--show-leak-kinds=definite --suppressions=tests/valgrind.supp $(TEST_BIN)

# The refleak suite on a debug interpreter, where sys.gettotalrefcount()
# counts every reference and the suite checks that too (on a release
# build it checks objects, refcounts and blocks).  Debian's python3-dbg
# (apt-get install python3-dbg) fits; its headers are symlinks into the
# release ones, whose pyconfig.h leaves Py_DEBUG undefined, so it is set
# here: without it refscope's own Py_INCREF/Py_DECREF are not counted.
# The debug ABI is the release ABI since CPython 3.8.
DEBUG_PYTHON ?= python3-dbg
refleak-check:
	@command -v $(DEBUG_PYTHON) >/dev/null || { echo "refscope: refleak-check needs a debug CPython: apt-get install python3-dbg, or DEBUG_PYTHON=/path/to/python3.X-dbg"; exit 1; }
	@$(MAKE) --no-print-directory PYTHON=$(DEBUG_PYTHON) BUILD=$(BUILD)/debug CFLAGS="$(CFLAGS) -DPy_DEBUG" \
		$(BUILD)/debug/refscope-tests
	@$(DEBUG_PYTHON) -c 'import sys; sys.gettotalrefcount' 2>/dev/null || { echo "refscope: $(DEBUG_PYTHON) is no debug build (no sys.gettotalrefcount)"; exit 1; }
	CK_RUN_SUITE=refleak $(BUILD)/debug/refscope-tests

bench: deps all
	PYTHONPATH=$(BUILD)/lib $(PYTHON) bench/bench.py

# On a terminal the example opens the browser (q leaves); otherwise it
# prints its headless why-alive answers.
demo: deps all
	@if [ -t 1 ] && [ -z "$$REFSCOPE_DEMO_HEADLESS" ]; then \
	  echo "refscope: running examples/leaky_service.py under refscope run; the browser opens here, q leaves"; \
	else \
	  echo "refscope: stdout is not a terminal (or REFSCOPE_DEMO_HEADLESS is set), so the demo prints its answers instead of opening the browser"; \
	fi
	$(CLI_BIN) run --quiet examples/leaky_service.py

# The module and a copy of the command go into the interpreter's platlib
# (python3 -m refscope finds the command there), the command into
# $(PREFIX)/bin, the man page into $(PREFIX)/share/man/man1.
INSTALL_PKG = $(DESTDIR)$(PY_PLATLIB)/refscope
INSTALL_BIN = $(DESTDIR)$(PREFIX)/bin
INSTALL_MAN = $(DESTDIR)$(PREFIX)/share/man/man1
install: all
	@test -n "$(PY_PLATLIB)" || { echo "refscope: cannot ask $(PYTHON) where its packages go"; exit 1; }
	install -d $(INSTALL_PKG)/bin $(INSTALL_BIN) $(INSTALL_MAN)
	install -m 644 $(PKG_PY) $(INSTALL_PKG)/
	install -m 755 $(MODULE_SO) $(INSTALL_PKG)/
	install -m 755 $(CLI_BIN) $(INSTALL_PKG)/bin/refscope
	install -m 755 $(CLI_BIN) $(INSTALL_BIN)/refscope
	@if [ -f man/refscope.1 ]; then install -m 644 man/refscope.1 $(INSTALL_MAN)/refscope.1; \
	else echo "refscope: man/refscope.1 is missing, so no man page was installed"; fi

uninstall:
	rm -f $(INSTALL_BIN)/refscope $(INSTALL_MAN)/refscope.1 $(INSTALL_PKG)/bin/refscope \
		$(INSTALL_PKG)/_refscope$(PY_EXT_SUFFIX) $(PKG_PY:$(PKGDIR)/%=$(INSTALL_PKG)/%)
	rm -rf $(INSTALL_PKG)/__pycache__
	-rmdir $(INSTALL_PKG)/bin $(INSTALL_PKG) 2>/dev/null

clean:
	rm -rf $(BUILD)

-include $(MODULE_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
