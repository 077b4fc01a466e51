# mk/fuzz.mk -- `make fuzz`: clang's libFuzzer on five of tend's inputs.
#
#   make fuzz                    replay tests/fuzz/regress/, then fuzz each
#                                target for FUZZ_SECONDS (default 20)
#   make fuzz FUZZ_SECONDS=600   a longer run by hand
#   make fuzz FUZZ_SEED=1 FUZZ_RUNS=4000   the same inputs every time (CI)
#   make fuzz FUZZ_TARGETS=ctl   some targets only
#   make fuzz-build              just build build/fuzz/fuzz-TARGET
#
# Targets (tests/fuzz/fuzz_TARGET.c, each with its oracles at the top):
#   decl    a declaration table from bytes, loaded by policy_load
#   ctl     bytes written into a real control socket (ctl_open)
#   notify  sd_notify datagrams to a proc's notify socket, from a live child
#   output  a proc's output pipes: the line splitter, and the ring
#   envfile two env files from bytes: the parser, and one laid on the other
# Everything is compiled again here with clang and -fsanitize=fuzzer-no-link,
# address,undefined (build/fuzz/obj); the main build is not touched.  The
# working corpus grows in build/fuzz/corpus/TARGET (seeds in
# tests/fuzz/corpus/TARGET); a crash is copied into
# tests/fuzz/regress/TARGET/ with its trace, and replayed first from then on.

FUZZ_SECONDS ?= 20
FUZZ_CC      ?= clang
FUZZ_JOBS    ?= 2
FUZZ_TARGETS ?= decl ctl notify output envfile
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer
# tend's sources get libFuzzer's coverage instrumentation; the harnesses
# (tests/fuzz/*.c) only the sanitizers, so that coverage counts tend's code
# and the oracles cost no instrumentation -- except those in FUZZ_STEERED,
# whose generator and oracle branches steer the fuzzer (fuzz_decl.c: one
# path of ltend.c checks "root" and "4294967296" alike; the model's rule
# for each is a branch of its own)
FUZZ_STEERED := fuzz_decl
FUZZ_CFLAGS  := -std=gnu11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Wno-unused-parameter \
                -I/usr/include/lua5.4 -Isrc -Itests/fuzz $(FUZZ_SAN) -MMD -MP
FUZZ_LDFLAGS := $(FUZZ_SAN) -fsanitize=fuzzer
FUZZ_SRC     := $(wildcard src/*/*.c)
FUZZ_OBJ     := $(patsubst src/%.c,$(FUZZ_DIR)/obj/%.o,$(FUZZ_SRC))
FUZZ_LIB     := $(FUZZ_DIR)/libtend.a
FUZZ_BINS    := $(patsubst %,$(FUZZ_DIR)/fuzz-%,$(FUZZ_TARGETS))
FUZZ_DEPS_OK := $(FUZZ_DIR)/.deps-ok

.PHONY: fuzz fuzz-build

# clang and its libFuzzer runtime (scripts/fuzz-deps.sh installs them as
# root); tend's own libraries come from scripts/deps.sh as for every build.
$(FUZZ_DEPS_OK): scripts/fuzz-deps.sh | $(DEPS_OK)
	@mkdir -p $(dir $@)
	@FUZZ_CC='$(FUZZ_CC)' sh scripts/fuzz-deps.sh
	@touch $@

$(FUZZ_DIR)/obj/%.o: src/%.c | $(FUZZ_DEPS_OK)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

# the Lua library is built into the binary (.incbin in src/policy/bundle.c)
$(FUZZ_DIR)/obj/policy/bundle.o: $(wildcard lua/tend/*.lua)

$(FUZZ_DIR)/obj/fuzz/%.o: tests/fuzz/%.c | $(FUZZ_DEPS_OK)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(if $(filter $*,$(FUZZ_STEERED)),-fsanitize=fuzzer-no-link) \
	    -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_DIR)/fuzz-%: $(FUZZ_DIR)/obj/fuzz/fuzz_%.o $(FUZZ_DIR)/obj/fuzz/fuzz.o $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $^ $(LDLIBS)

.PRECIOUS: $(FUZZ_DIR)/obj/fuzz/%.o

# the program the output target runs as its proc (plain: it is the child)
$(FUZZ_DIR)/fuzz-relay: tests/fuzz/relay.c | $(FUZZ_DEPS_OK)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -o $@ $<

fuzz-build: $(FUZZ_BINS) $(FUZZ_DIR)/fuzz-relay

# Built with FUZZ_JOBS compilers at once, then run by tests/fuzz/run.sh
# (FUZZ_JOBS targets at a time), which prints the table and fails on any
# crash, leak or failing regression input.
fuzz:
	@$(MAKE) --no-print-directory -j$(FUZZ_JOBS) fuzz-build
	@FUZZ_SECONDS='$(FUZZ_SECONDS)' FUZZ_JOBS='$(FUZZ_JOBS)' \
	    FUZZ_SEED='$(FUZZ_SEED)' FUZZ_RUNS='$(FUZZ_RUNS)' \
	    bash tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_TARGETS)

-include $(wildcard $(FUZZ_DIR)/obj/*/*.d $(FUZZ_DIR)/obj/fuzz/*.d)
