# tend -- a process supervisor with a Lua policy engine.
#
#   make            build build/tend
#   make run        build, then run examples/hello.lua (Ctrl-C stops it)
#   make test       build and run every test (unit and integration)
#   make asan       the same tests under AddressSanitizer + UBSan
#   make valgrind   tend under valgrind, driven by the integration tests
#   make bench      the benchmarks (BENCH_QUICK=1 for a short run)
#   make install    install under $(DESTDIR)$(PREFIX)

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
BUILD   ?= build

CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-unused-parameter \
           -I/usr/include/lua5.4 -Isrc -MMD -MP
LDLIBS  += -llua5.4 -lev -ljansson -lmicrohttpd -lanl -lm -pthread
TESTLIBS = -lcmocka

ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

SRC      := $(wildcard src/*.c src/*/*.c)
CORE_OBJ := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(filter-out src/main.c,$(SRC)))
MAIN_OBJ := $(BUILD)/obj/main.o
TESTS    := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
# programs the tests run as children (e.g. an sd_notify speaker)
HELPERS  := $(patsubst tests/helper_%.c,$(BUILD)/tests/helper-%,$(wildcard tests/helper_*.c))
HARNESS  := $(BUILD)/obj/tests/harness.o
DEPS_OK  := $(BUILD)/.deps-ok

.PHONY: all run test asan valgrind bench install clean deps

all: $(BUILD)/tend

# The libraries come from Debian; scripts/deps.sh installs what is missing
# (as root) or says exactly what to install.
$(DEPS_OK): scripts/deps.sh
	@mkdir -p $(BUILD)
	@sh scripts/deps.sh
	@touch $@

deps: $(DEPS_OK)

$(BUILD)/obj/%.o: src/%.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/tests/%.o: tests/%.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# the Lua library is built into the binary (.incbin in src/policy/bundle.c)
$(BUILD)/obj/policy/bundle.o: $(wildcard lua/tend/*.lua)

$(BUILD)/libtend.a: $(CORE_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/tend: $(MAIN_OBJ) $(BUILD)/libtend.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/helper-%: tests/helper_%.c
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Isrc,$(CFLAGS)) $(LDFLAGS) -o $@ $<

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(HARNESS) $(BUILD)/libtend.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(TESTLIBS)

# Each test program runs from the top of the tree; TEND points the
# integration tests at the binary under test.
test: $(BUILD)/tend $(TESTS) $(HELPERS)
	@set -e; for t in $(TESTS); do \
	    echo "== $$t"; TEND=$(abspath $(BUILD)/tend) \
	    TEND_HELPERS=$(abspath $(BUILD)/tests) $$t; \
	done; echo "== all tests passed ($(BUILD))"

run: $(BUILD)/tend
	$(BUILD)/tend run examples/hello.lua

asan:
	$(MAKE) BUILD=build/asan SAN=1 test

# tend itself under valgrind (memcheck), driven by the integration tests
# that run the binary; any report valgrind writes fails the target.  Slow
# (about two minutes), so not part of `make test`.
VG_TESTS := test_cli test_ctl test_output test_reload test_examples test_reaper test_sdnotify
# the in-process tests, themselves under valgrind (the core and the policy
# code linked into the test program; test_lua skips its two timed tests
# there, and the harness waits without pidfds, which valgrind 3.19 does not
# know).  A forked child that exits without freeing is not a report.
VG_INPROC := test_status test_ring test_strmap test_restart test_later test_pattern \
             test_usage test_envfile test_statustable test_policy test_users test_lua \
             test_proc
# A log is a report unless all it says is that valgrind 3.19 does not know
# pidfd_open (syscall 434: cgroup.c signals a cgroup's members through
# pidfds): that is valgrind's limitation, not something about tend.
valgrind: $(BUILD)/tend $(TESTS) $(HELPERS)
	@command -v valgrind >/dev/null || { \
	    echo "make valgrind: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
	@set -e; logs=$(abspath $(BUILD)/valgrind); rm -rf $$logs; mkdir -p $$logs; \
	for t in $(VG_TESTS); do \
	    echo "== $$t, tend under valgrind"; \
	    TEND=$(abspath scripts/valgrind-tend) TEND_REAL=$(abspath $(BUILD)/tend) \
	    TEND_VG_LOGS=$$logs TEND_UNDER_VALGRIND=1 \
	    TEND_HELPERS=$(abspath $(BUILD)/tests) $(BUILD)/tests/$$t; \
	done; \
	for t in $(VG_INPROC); do \
	    echo "== $$t, under valgrind"; \
	    TEND=$(abspath $(BUILD)/tend) TEND_UNDER_VALGRIND=1 \
	    TEND_HELPERS=$(abspath $(BUILD)/tests) valgrind -q --child-silent-after-fork=yes \
	        --leak-check=full \
	        --show-leak-kinds=definite --errors-for-leak-kinds=definite \
	        --suppressions=tests/valgrind.supp --log-file=$$logs/vg.$$t.%p.log \
	        $(BUILD)/tests/$$t; \
	done; \
	bad=$$(for f in $$(find $$logs -name 'vg.*.log' -size +0 | sort); do \
	    grep -v -e 'unhandled amd64-linux syscall: 434' -e 'write your own handler' \
	        -e 'README_MISSING_SYSCALL_OR_IOCTL' -e 'Nevertheless we consider this a bug' \
	        -e 'valgrind.org/support/bug_reports' "$$f" | grep -q . && echo "$$f"; \
	    done; true); \
	if [ -n "$$bad" ]; then cat $$bad; echo "== valgrind reported errors (above)"; exit 1; fi; \
	echo "== valgrind: no reports from $$(ls $$logs | wc -l) runs of tend"

# The benchmark driver (scripts/bench/: one file per scenario), built with
# tend's flags but without -Isrc (it needs no project header, and one in src/
# must not hide a system header such as <spawn.h>); libc and libm only.
BENCH_SRC := $(wildcard scripts/bench/*.c)
$(BUILD)/bench: $(BENCH_SRC) scripts/bench/bench.h
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Isrc -MMD -MP,$(CFLAGS)) $(LDFLAGS) -o $@ $(BENCH_SRC) -lm

bench: $(BUILD)/tend $(BUILD)/bench
	@sh scripts/bench.sh $(abspath $(BUILD)/tend) $(abspath $(BUILD)/bench)

install: $(BUILD)/tend
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 755 $(BUILD)/tend $(DESTDIR)$(BINDIR)/tend
	install -m 644 man/tend.1 $(DESTDIR)$(MANDIR)/man1/tend.1
	install -m 644 man/tend-lua.5 $(DESTDIR)$(MANDIR)/man5/tend-lua.5
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 644 completion/tend.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/tend
	install -d $(DESTDIR)$(PREFIX)/share/zsh/site-functions
	install -m 644 completion/_tend $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_tend
	install -d $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 644 completion/tend.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/tend.fish

clean:
	rm -rf build

# Suites with makefiles of their own (make fault, make fuzz, ...).
-include $(wildcard mk/*.mk)

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/obj/*/*.d $(BUILD)/obj/tests/*.d)
