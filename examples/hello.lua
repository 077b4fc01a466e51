-- hello.lua -- two procs, their output prefixed with their names.
-- Run it with `make run` (or build/tend run examples/hello.lua); Ctrl-C
-- stops both.

tend.proc {
  name = "hello",
  cmd = { "sh", "-c", "while :; do echo \"hello from $TEND_PROC\"; sleep 1; done" },
}

tend.proc {
  name = "clock",
  cmd = { "sh", "-c", "while :; do date -u +%H:%M:%S >&2; sleep 2; done" },
  restart = "always",
}
