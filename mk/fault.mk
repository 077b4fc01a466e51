# make fault -- the fault-injection suite (issue 10, section 1).
#
# Drives build/tend like a user through scenarios that misbehave (children,
# the OS, tend itself, policy code, the control socket) and prints one table
# row per scenario: what was done, what held, the leaks found.  Results also
# in $(BUILD)/fault/results.txt (tab-separated).  FAULT_ONLY=a,b runs only
# those scenarios, FAULT_SKIP=a,b leaves some out.
#
# The driver is C (tests/fault/*.c) on tests/harness.c (cmocka linked for its
# failures); the programs it runs
# as procs are one libc-only helper, $(BUILD)/fault/fault-child.

FAULT_SRC   := $(wildcard tests/fault/*.c)
FAULT_OBJ   := $(patsubst tests/fault/%.c,$(BUILD)/obj/fault/%.o,$(filter-out tests/fault/child.c,$(FAULT_SRC)))
FAULT_BIN   := $(BUILD)/fault/fault
FAULT_CHILD := $(BUILD)/fault/fault-child

.PHONY: fault

$(BUILD)/obj/fault/%.o: tests/fault/%.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -c -o $@ $<

$(FAULT_BIN): $(FAULT_OBJ) $(HARNESS) $(BUILD)/libtend.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(TESTLIBS)

# built like the test helpers: tend's flags, no project header
$(FAULT_CHILD): tests/fault/child.c
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Isrc,$(CFLAGS)) $(LDFLAGS) -o $@ $<

fault: $(BUILD)/tend $(FAULT_BIN) $(FAULT_CHILD)
	@$(FAULT_BIN) --tend $(abspath $(BUILD)/tend) --child $(abspath $(FAULT_CHILD)) \
	    --out $(abspath $(BUILD)/fault)

-include $(wildcard $(BUILD)/obj/fault/*.d)
