# cgihost: run Python CGI scripts unchanged, with cgi/cgitb built in, in C.
#
# Three layers, one direction:
#   shim/parsers/  pure-C parsers (libc only)        -> unit tests, fuzz targets
#   shim/          the C modules cgi and cgitb        -> need Python.h
#   host/          the cgihost program (embeds CPython)
#
# make            build build/cgihost against Debian's python3 (or PYTHON_CONFIG=...)
# make test       install missing Debian packages (as root), build, run every test
# make demo       the main job: a private Apache serving scripts/ through cgihost (PORT=8080)
# make bench      side-by-side timings against /usr/bin/python3
# make asan       the same test suite on an ASan+UBSan build
# make fuzz       libFuzzer targets, FUZZ_SECONDS each (default 60)
# make test-matrix  the cgi/cgitb extension modules under each CPython 3.9-3.13
#                 found, and cgihost built against 3.13 (tests/matrix/run)

CC      ?= cc
BUILD   ?= build
PREFIX  ?= /usr/local

# Debian's python3, never the pyenv python3 that may come first on PATH.
PYTHON_CONFIG ?= /usr/bin/python3-config
PY_VERSION    := $(shell $(PYTHON_CONFIG) --embed --libs 2>/dev/null | sed -n 's/.*-lpython\([0-9.]*\).*/\1/p')
PY_PREFIX     := $(shell $(PYTHON_CONFIG) --prefix 2>/dev/null)
PYTHON_EXE    := $(dir $(PYTHON_CONFIG))python$(PY_VERSION)
PY_INCLUDES   := $(patsubst -I%,-isystem %,$(shell $(PYTHON_CONFIG) --includes 2>/dev/null))
PY_LIBPL      := $(shell $(PYTHON_CONFIG) --configdir 2>/dev/null)
# PY_LINK=static (the default where the static library exists, as in Debian's
# libpython3-dev) links libpython into cgihost, non-PIE like /usr/bin/python3:
# a cold start then skips loading and relocating libpython3.X.so, about 4 ms
# of 15 here. PY_LINK=shared links the shared library.
PY_STATIC_LIB := $(wildcard $(PY_LIBPL)/libpython$(PY_VERSION).a)
PY_LINK       ?= $(if $(PY_STATIC_LIB),static,shared)
ifeq ($(PY_LINK),static)
PY_LDFLAGS    := -no-pie $(PY_STATIC_LIB) $(shell $(PYTHON_EXE) -S -c 'import sysconfig as s; \
                 print(*(s.get_config_var(v) or "" for v in ("MODLIBS", "LIBS", "SYSLIBS", "LINKFORSHARED")))' 2>/dev/null)
else
PY_LDFLAGS    := $(shell $(PYTHON_CONFIG) --embed --ldflags 2>/dev/null)
ifneq ($(PY_PREFIX),/usr)
PY_LDFLAGS    += -Wl,-rpath,$(PY_PREFIX)/lib
endif
endif
# sys.executable: the python3 next to it when that is the same program (as
# Debian's /usr/bin/python3 -> python3.11), as python3 itself shows it.
PYTHON_SHOWN  := $(shell p=$(dir $(PYTHON_CONFIG))python3; \
                 [ "$$(realpath -q $$p)" = "$$(realpath -q $(PYTHON_EXE))" ] && echo $$p || echo $(PYTHON_EXE))
SITE_DIRS     := $(shell $(PYTHON_EXE) -S -c 'import site; print(":".join(site.getsitepackages()))' 2>/dev/null)
VERSION       := $(shell cat VERSION)

# The interpreter that runs the tests, and the oracle's: Debian's. -B: the
# tree gets no __pycache__ of host/apache/private.py or of the tests.
TEST_PYTHON ?= /usr/bin/python3
PY := $(TEST_PYTHON) -B

WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wundef -Wvla
CFLAGS   ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARNINGS) $(CFLAGS) $(EXTRA_CFLAGS)
ALL_LDFLAGS = $(LDFLAGS) $(EXTRA_LDFLAGS)

PARSER_SRCS := $(wildcard shim/parsers/*.c)
MODULE_SRCS := $(wildcard shim/*.c)
# host/client.c is build/cgihost's main(), the small client; the rest make
# cgihost-py, which embeds Python (see the build rules).
HOST_SRCS   := $(filter-out host/client.c,$(wildcard host/*.c))
PARSER_OBJS := $(PARSER_SRCS:%.c=$(BUILD)/obj/%.o)
MODULE_OBJS := $(MODULE_SRCS:%.c=$(BUILD)/obj/%.o)
HOST_OBJS   := $(HOST_SRCS:%.c=$(BUILD)/obj/%.o)
CTEST_SRCS  := $(wildcard tests/c/test_*.c)
CTESTS      := $(CTEST_SRCS:tests/c/%.c=$(BUILD)/tests/%)
FUZZ_SRCS   := $(wildcard fuzz/fuzz_*.c)
FUZZERS     := $(FUZZ_SRCS:fuzz/%.c=build/fuzz/%)

.PHONY: all deps test test-c test-py test-py-here test-fuzz test-matrix asan valgrind fuzz bench demo demo-stop \
        install uninstall clean FORCE

all: $(BUILD)/cgihost $(BUILD)/cgihost-py

# ---- build ------------------------------------------------------------------

$(BUILD)/obj/shim/parsers/%.o: shim/parsers/%.c shim/parsers/*.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Wpedantic -Wwrite-strings -c $< -o $@

# Which Python the objects and the link are for: everything that includes
# Python.h is rebuilt when PYTHON_CONFIG or PY_LINK changes in a build
# directory built before, never a mix of two CPythons' objects.
$(BUILD)/obj/python: FORCE
	@test -n '$(PY_VERSION)' || { echo 'cgihost: $(PYTHON_CONFIG) --embed --libs names no' \
	    'libpython: install python3-dev (make deps), or give PYTHON_CONFIG=' >&2; exit 1; }
	@mkdir -p $(@D)
	@echo '$(PYTHON_CONFIG) $(PY_VERSION) $(PY_LINK)' | cmp -s - $@ || \
	    echo '$(PYTHON_CONFIG) $(PY_VERSION) $(PY_LINK)' > $@

$(BUILD)/obj/shim/%.o: shim/%.c shim/*.h shim/parsers/*.h $(BUILD)/obj/python
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(PY_INCLUDES) -c $< -o $@

$(BUILD)/obj/host/%.o: host/%.c host/*.h shim/*.h VERSION Makefile $(BUILD)/obj/python
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(PY_INCLUDES) -DCGIH_VERSION='"$(VERSION)"' \
	    -DCGIH_PYTHON_EXE='"$(PYTHON_SHOWN)"' -DCGIH_SITE_DIRS='"$(SITE_DIRS)"' -c $< -o $@

# Its segments start at 2 MiB boundaries, so that the resident server can put
# its code on huge pages (server.c, hugify_code()).
HUGE_ALIGN := -Wl,-z,max-page-size=0x200000,-z,common-page-size=0x200000,-z,separate-code
$(BUILD)/cgihost-py: $(HOST_OBJS) $(MODULE_OBJS) $(PARSER_OBJS) $(BUILD)/obj/python
	$(CC) $(ALL_CFLAGS) $(filter %.o,$^) -o $@ $(HUGE_ALIGN) $(ALL_LDFLAGS) $(PY_LDFLAGS)

# build/cgihost, what a web server executes, is a small static client without
# libpython: it hands the request to the user's resident server (about the
# cost of a static C program) and execs cgihost-py beside it for everything
# else, including the in-process run. Not static under the sanitizers.
#
# Its C library is musl (Debian's musl-tools) where musl-gcc is found and CC
# is gcc: running a static musl program that writes a line takes about 0.3 ms
# here, a static glibc one about 0.5 ms, because glibc's start asks the CPU
# about itself with many CPUID instructions, each a trap on a virtual machine. glibc otherwise:
# under the sanitizers, with another compiler (CC=clang compiles the client
# too), or without musl. CLIENT_CC=... chooses.
CLIENT_OBJS   := $(BUILD)/obj/client/client.o $(BUILD)/obj/client/proto.o
CLIENT_STATIC := $(if $(findstring sanitize,$(EXTRA_LDFLAGS)),,-static)
MUSL_GCC      := $(shell command -v musl-gcc 2>/dev/null)
CLIENT_CC     ?= $(if $(and $(MUSL_GCC),$(CLIENT_STATIC),$(filter cc gcc,$(notdir $(CC)))),musl-gcc,$(CC))
# Rebuilt when the choice changes (musl installed since the last build).
$(BUILD)/obj/client/cc: FORCE
	@mkdir -p $(@D)
	@echo '$(CLIENT_CC)' | cmp -s - $@ || echo '$(CLIENT_CC)' > $@
$(BUILD)/obj/client/%.o: host/%.c host/*.h Makefile $(BUILD)/obj/client/cc
	$(CLIENT_CC) $(ALL_CFLAGS) -c $< -o $@
$(BUILD)/cgihost: $(CLIENT_OBJS)
	$(CLIENT_CC) $(ALL_CFLAGS) $(CLIENT_STATIC) $^ -o $@ $(ALL_LDFLAGS)

# ---- dependencies -------------------------------------------------------------

# Debian packages, by name. Installed when missing and we are root; otherwise
# we say what to install.
TEST_DEPS  := python3-dev python3-setuptools musl-tools python3-pytest clang libclang-rt-14-dev valgrind \
              apache2 apache2-utils chromium chromium-driver python3-selenium
BENCH_DEPS := musl-tools hyperfine apache2 apache2-utils time
DEMO_DEPS  := python3-dev musl-tools apache2
MATRIX_DEPS := python3-dev python3-pytest python3-setuptools python3-wheel python3-venv
deps:
	@./tests/install-deps $(TEST_DEPS) $(BENCH_DEPS)

# ---- tests ------------------------------------------------------------------

$(BUILD)/tests/%: tests/c/%.c tests/c/tap.h $(PARSER_SRCS) host/nbsp.c host/cgienv.c host/proto.c host/shebang.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Ishim/parsers -Ihost -Itests/c $< $(PARSER_SRCS) host/nbsp.c host/cgienv.c host/shebang.c \
	    host/proto.c -o $@ $(ALL_LDFLAGS)

test: deps
	$(MAKE) all test-c
	$(MAKE) test-fuzz
	$(MAKE) test-py

test-c: $(CTESTS)
	prove --exec '' $(CTESTS)

# The Python suites, then the differential suites again, every run served by
# a resident server; in a copy of the checkout where www-data, whose servers
# and CGIs the tests run as root, cannot reach it (tests/www-reachable).
# An absolute BUILD inside the checkout is given to the copy relative to it
# (BUILD=$$PWD/build would have the copy's suites run the checkout's cgihost).
REL_BUILD := $(if $(filter /%,$(BUILD)),$(patsubst $(CURDIR)/%,%,$(abspath $(BUILD))),$(BUILD))
test-py: $(BUILD)/cgihost $(BUILD)/cgihost-py $(BUILD)/tests/test_nbsp
	@tests/www-reachable $(REL_BUILD)/cgihost $(MAKE) --no-print-directory test-py-here BUILD=$(REL_BUILD)

test-py-here:
	CGIHOST=$(abspath $(BUILD)/cgihost) $(PY) -m pytest -q -p no:cacheprovider tests
	CGIHOST=$(abspath $(BUILD)/cgihost) $(PY) tests/served

# setup.py's extension modules built and tested under every CPython found
# (Debian's 3.11, pyenv's 3.8-3.13; missing or unsupported ones are listed as
# SKIP), and cgihost built against 3.13 (MATRIX_CGIHOST=3.12 for another).
# Offline: interpreters without setuptools build with Debian's.
test-matrix:
	@./tests/install-deps $(MATRIX_DEPS)
	$(PY) tests/matrix/run $(MATRIX_VERSIONS)

# The parser tests under valgrind: no invalid reads or writes.
valgrind: $(CTESTS)
	@for t in $(CTESTS); do \
	    valgrind -q --error-exitcode=99 --leak-check=full $$t >/dev/null || exit 1; \
	    echo "valgrind: $$t clean"; done

# The whole suite on an ASan+UBSan build.
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
asan: deps
	$(MAKE) BUILD=build/asan CFLAGS='-O1 -g' EXTRA_CFLAGS='$(SAN_FLAGS)' EXTRA_LDFLAGS='$(SAN_FLAGS)' \
	    all test-c
	ASAN_OPTIONS=detect_leaks=0 $(MAKE) BUILD=build/asan CFLAGS='-O1 -g' \
	    EXTRA_CFLAGS='$(SAN_FLAGS)' EXTRA_LDFLAGS='$(SAN_FLAGS)' test-py

# ---- fuzzing ----------------------------------------------------------------

FUZZ_SECONDS ?= 60
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
build/fuzz/%: fuzz/%.c $(PARSER_SRCS) shim/parsers/*.h
	@mkdir -p $(@D)
	clang -std=c11 -D_GNU_SOURCE $(FUZZ_FLAGS) -Ishim/parsers $< $(PARSER_SRCS) -o $@

# The CGI-mode environment is the host's, but as pure as the parsers.
build/fuzz/fuzz_cgienv: fuzz/fuzz_cgienv.c host/cgienv.c host/cgienv.h
	@mkdir -p $(@D)
	clang -std=c11 -D_GNU_SOURCE $(FUZZ_FLAGS) -Ihost $< host/cgienv.c -o $@

# So is the script-source rewrite and its checks.
build/fuzz/fuzz_nbsp: fuzz/fuzz_nbsp.c host/nbsp.c host/nbsp.h
	@mkdir -p $(@D)
	clang -std=c11 -D_GNU_SOURCE $(FUZZ_FLAGS) -Ihost $< host/nbsp.c -o $@

# So is the request a resident server decodes (from any local process).
build/fuzz/fuzz_proto: fuzz/fuzz_proto.c host/proto.c host/proto.h
	@mkdir -p $(@D)
	clang -std=c11 -D_GNU_SOURCE $(FUZZ_FLAGS) -Ihost $< host/proto.c -o $@

test-fuzz: $(FUZZERS)
	./fuzz/run 5 $(FUZZERS)

fuzz: $(FUZZERS)
	./fuzz/run $(FUZZ_SECONDS) $(FUZZERS)

# ---- the main job and the figures ---------------------------------------------

# A private Apache on 127.0.0.1:$(PORT) serving scripts/ through cgihost, in
# the foreground until Ctrl-C (host/demo; DEMO_ONESHOT=1 fetches hello.py once).
PORT ?= 8080
demo:
	@./tests/install-deps $(DEMO_DEPS)
	@$(MAKE) --no-print-directory all
	@$(PY) host/demo --cgihost $(BUILD)/cgihost --port $(PORT) --run-dir $(BUILD)/demo-$(PORT)

demo-stop:
	@$(PY) host/demo --stop --port $(PORT) --run-dir $(BUILD)/demo-$(PORT)

bench:
	@./tests/install-deps $(BENCH_DEPS)
	@$(MAKE) --no-print-directory all
	@tests/www-reachable $(REL_BUILD)/cgihost $(PY) bench/bench.py --cgihost $(REL_BUILD)/cgihost

# ---- install ------------------------------------------------------------------

# The program, the Apache snippet (a2enconf cgihost), the systemd units with
# the tmpfiles.d line for their directory, and the man page. Paths inside the snippet and the units follow BINDIR.
# systemd reads units and tmpfiles.d under /usr/local/lib and /usr/lib, not
# under another PREFIX: there, give UNITDIR=/etc/systemd/system and
# TMPFILESDIR=/etc/tmpfiles.d. The snippet goes to APACHE_CONFDIR whatever
# PREFIX is: a trial or unprivileged install gives a directory of its own.
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
APACHE_CONFDIR ?= /etc/apache2/conf-available
UNITDIR    ?= $(PREFIX)/lib/systemd/system
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
UNITS      := $(wildcard host/cgihost.service host/cgihost.socket)
MANPAGE    := $(wildcard host/cgihost.1)
INSTALLED_BIN := $(BINDIR)/cgihost
# The programs are written under a temporary name and renamed over the old
# ones, which a web server may be running at that moment: install(1) alone
# removes the old file, then writes the new one and makes it executable
# last, and a request started meanwhile failed (Apache: 404 or 500, the
# client: status 127 without its cgihost-py). cgihost-py first, so that a
# new cgihost never runs an old one.
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(APACHE_CONFDIR)
	install -m 755 $(BUILD)/cgihost-py $(DESTDIR)$(INSTALLED_BIN)-py.new
	mv -f $(DESTDIR)$(INSTALLED_BIN)-py.new $(DESTDIR)$(INSTALLED_BIN)-py
	install -m 755 $(BUILD)/cgihost $(DESTDIR)$(INSTALLED_BIN).new
	mv -f $(DESTDIR)$(INSTALLED_BIN).new $(DESTDIR)$(INSTALLED_BIN)
	@# (made in place, not in $(BUILD), which the installer may not own)
	@set -e; for f in host/apache/cgihost.conf:$(APACHE_CONFDIR) $(UNITS:%=%:$(UNITDIR)); do \
	    src=$${f%%:*}; dst=$(DESTDIR)$${f#*:}/$${src##*/}; \
	    install -d $${dst%/*}; \
	    echo "sed 's|/usr/local/bin/cgihost|$(INSTALLED_BIN)|g' $$src > $$dst"; \
	    sed 's|/usr/local/bin/cgihost|$(INSTALLED_BIN)|g' $$src > $$dst.new; \
	    chmod 644 $$dst.new; mv -f $$dst.new $$dst; done
	install -d $(DESTDIR)$(TMPFILESDIR)
	install -m 644 host/cgihost.tmpfiles $(DESTDIR)$(TMPFILESDIR)/cgihost.conf
	@set -e; for m in $(MANPAGE); do \
	    install -d $(DESTDIR)$(MANDIR)/man1; \
	    echo install -m 644 $$m $(DESTDIR)$(MANDIR)/man1/; \
	    install -m 644 $$m $(DESTDIR)$(MANDIR)/man1/; done

uninstall:
	rm -f $(DESTDIR)$(INSTALLED_BIN) $(DESTDIR)$(INSTALLED_BIN)-py $(DESTDIR)$(APACHE_CONFDIR)/cgihost.conf \
	    $(DESTDIR)$(UNITDIR)/cgihost.service $(DESTDIR)$(UNITDIR)/cgihost.socket \
	    $(DESTDIR)$(TMPFILESDIR)/cgihost.conf $(DESTDIR)$(MANDIR)/man1/cgihost.1

clean:
	rm -rf build
