# refscope — plain Makefile.  `make` builds the Python package into build/lib
# (PYTHONPATH=build/lib python3 -c 'import refscope'), `make check` runs every
# test, `make demo` shows refscope on the bundled leaky example.

PYTHON ?= python3
BUILD ?= build
DEBIAN_DEPS = build-essential pkg-config python3-dev libncurses-dev libedit-dev check tmux gdb python3-objgraph

PY := $(shell command -v $(PYTHON) 2>/dev/null)
PY_INCLUDE := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null)
PY_EXT_SUFFIX := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))' 2>/dev/null)
PY_LIBDIR := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))' 2>/dev/null)
PY_LDVERSION := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("LDVERSION"))' 2>/dev/null)
PY_EXE := $(shell $(PYTHON) -c 'import sys; print(sys.executable)' 2>/dev/null)
PY_VERSION := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_python_version())' 2>/dev/null)
PY_PLATLIB := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])' 2>/dev/null)
VERSION := $(shell sed -n 's/^\#define REFSCOPE_VERSION "\(.*\)"/\1/p' src/module.c)
PREFIX ?= /usr/local
DESTDIR ?=

PKGS = ncursesw libedit
PKG_CFLAGS = $(filter-out -D%,$(shell pkg-config --cflags $(PKGS) 2>/dev/null))
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)

OPT ?= -O2
SAN ?=
CC ?= cc
WARN = -Wall -Wextra -Werror -Wno-missing-field-initializers
CFLAGS_ALL = -std=c11 $(OPT) -g $(WARN) -fPIC -fvisibility=hidden -D_GNU_SOURCE \
	-Iinclude -Isrc -I$(PY_INCLUDE) $(PKG_CFLAGS) $(SAN) $(CFLAGS)
LDFLAGS_ALL = $(SAN) $(LDFLAGS)

# Graph core and pure-C analyses: no Python.h.
CORE_SRC = src/alloc.c src/graph.c src/scc.c src/dom.c
# Everything that needs the interpreter; ends up in the extension module.
ENGINE_SRC = $(filter-out $(CORE_SRC) src/cli.c, $(wildcard src/*.c))
MODULE_SRC = $(CORE_SRC) $(ENGINE_SRC)
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
CLI_OBJ = $(OBJDIR)/cli.o $(OBJDIR)/attach.o
TEST_BIN = $(BUILD)/refscope-tests

.PHONY: all deps check asan-check valgrind-check bench demo clean install uninstall
all: $(MODULE_SO) $(PKG_PY) $(CLI_BIN)

# Installs the Debian build dependencies when something is missing (as root),
# or says exactly what to install.
deps:
	@missing=""; \
	pkg-config --exists ncursesw libedit check 2>/dev/null || missing=1; \
	[ -n "$(PY)" ] && [ -f "$(PY_INCLUDE)/internal/pycore_frame.h" ] || missing=1; \
	command -v tmux >/dev/null && command -v gdb >/dev/null || missing=1; \
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

$(OBJDIR)/%.o: src/%.c
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(OBJDIR)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) $(CHECK_CFLAGS) -DRS_PYTHON_EXE='"$(PY_EXE)"' \
		-DRS_BUILD_LIB='"$(abspath $(BUILD)/lib)"' -DRS_SOURCE_DIR='"$(CURDIR)"' -MMD -MP -c $< -o $@

# The extension does not link libpython: the interpreter that loads it provides it.
$(MODULE_SO): $(MODULE_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) -shared $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS)

$(OBJDIR)/cli.o: CFLAGS_ALL += -DREFSCOPE_VERSION='"$(VERSION)"' -DRS_PYTHON_EXE='"$(PY_EXE)"' \
	-DRS_PYTHON_VERSION='"$(PY_VERSION)"'

$(CLI_BIN): $(CLI_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^

$(PKGDIR)/%.py: src/python/%.py
	@mkdir -p $(dir $@)
	$(Q)cp $< $@

$(TEST_BIN): $(TEST_OBJ) $(CORE_OBJ) $(MODULE_SO) $(PKG_PY)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(TEST_OBJ) $(CORE_OBJ) $(CHECK_LIBS) \
		-L$(PY_LIBDIR) -Wl,-rpath,$(PY_LIBDIR) -lpython$(PY_LDVERSION) -lpthread -lm -ldl -lutil

# The trigger tests drive the command.
$(TEST_BIN): $(CLI_BIN)

check: deps
	@$(MAKE) --no-print-directory $(TEST_BIN)
	$(TEST_BIN)

# ASan+UBSan build of module and tests in its own build dir.  Python's own
# allocator hides heap errors from ASan, hence PYTHONMALLOC=malloc; leak
# detection is off because the interpreter keeps memory until exit by design.
asan-check: deps
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/asan OPT=-O1 \
		SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
		$(BUILD)/asan/refscope-tests
	PYTHONMALLOC=malloc ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $(BUILD)/asan/refscope-tests

# Valgrind over the whole suite (about 15 minutes): invalid accesses and
# definite leaks are errors.  Uninitialised-value tracking is off because
# CPython 3.11 itself produces values valgrind believes uninitialised (see
# tests/valgrind.supp); ASan and UBSan (make asan-check) cover the rest.
valgrind-check: deps
	@$(MAKE) --no-print-directory $(TEST_BIN)
	CK_TIMEOUT_MULTIPLIER=20 PYTHONMALLOC=malloc valgrind --quiet --error-exitcode=99 \
		--undef-value-errors=no --leak-check=full --errors-for-leak-kinds=definite \
		--show-leak-kinds=definite --suppressions=tests/valgrind.supp $(TEST_BIN)

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

-include $(MODULE_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(OBJDIR)/cli.d
