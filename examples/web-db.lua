-- web-db.lua -- a web server that starts after its database.
--
-- `after` makes web wait until db is ready; on shutdown web stops first,
-- then db (dependents before what they depend on).  The programs here are
-- stand-ins written in sh; replace cmd with your own.

local db = tend.proc {
  name = "db",
  cmd = { "sh", "-c", "echo 'db: accepting connections'; exec sleep 100000" },
  stop_timeout = 5,
}

tend.proc {
  name = "web",
  cmd = { "sh", "-c", "echo \"web: serving on port $PORT\"; exec sleep 100000" },
  env = { PORT = 8080 },
  after = { db },
  restart = "always",
  backoff = { initial = 0.5, max = 10 },
}
