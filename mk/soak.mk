# make soak -- a long run of the real binary under load (issue 10, section 3).
#
#   make soak                    SOAK_SECONDS=600 by default; by hand, not CI
#   make soak SOAK_SECONDS=120   a shorter one
#
# Procs that churn, talk and are reloaded every few seconds while tend is
# asked for its status every second; tend's RSS, fds, CPU and the restart
# count go into $(BUILD)/soak/soak.csv, a plot into $(BUILD)/soak/soak.png
# (needs gnuplot: apt-get install gnuplot-nox; without it, no plot).  Fails
# if RSS or fds grew between the first and the last minute past a bound
# (scripts/soak.sh says which), or if tend died or stopped answering.

SOAK_SECONDS ?= 600

.PHONY: soak

soak: $(BUILD)/tend
	@SOAK_SECONDS='$(SOAK_SECONDS)' sh scripts/soak.sh $(abspath $(BUILD)/tend) $(abspath $(BUILD)/soak)
