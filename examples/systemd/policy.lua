-- policy.lua -- an example /etc/tend/policy.lua for tend.service: a
-- database that says when it is ready through sd_notify, and a web server
-- that starts once it is and is ready once its port answers.

local db = tend.proc {
  name = "db",
  cmd = { "/usr/local/bin/mydb", "--foreground" },
  ready = tend.ready.notify(),   -- the program calls sd_notify("READY=1")
  watchdog = 30,                 -- and WATCHDOG=1 at least every 30 s
  ready_timeout = 60,
}

tend.proc {
  name = "web",
  cmd = { "/usr/local/bin/myweb", "--port", "8080" },
  after = { db },
  ready = tend.ready.tcp(8080),
  health = { check = tend.ready.exec({ "curl", "-fsS", "http://127.0.0.1:8080/health" }),
             interval = 10, timeout = 5, failures = 3 },
  restart = "always",
}
