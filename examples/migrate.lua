-- migrate.lua -- a database, a one-shot migration, and a web server that
-- starts only once the migration has succeeded.
--
-- `after` takes a condition per name: web waits for migrate = "succeeded"
-- (exited 0), not merely started.  If the migration fails (set
-- MIGRATE_FAIL=1), web never starts: `tend status` shows it pending,
-- "waiting for migrate succeeded (it exited with code 1)", and tend stays
-- up so that an operator can fix it and `tend start web` (which runs the
-- migration again first).  The programs are stand-ins written in sh.

tend.proc {
  name = "db",
  cmd = { "sh", "-c", "echo 'db: accepting connections'; exec sleep 100000" },
  ready = tend.ready.log("accepting connections"),
}

tend.proc {
  name = "migrate",
  cmd = { "sh", "-c", "echo 'applying 3 migrations'; [ -z \"$MIGRATE_FAIL\" ] || exit 1; echo 'schema up to date'" },
  after = { db = "ready" },
  restart = "never",
}

tend.proc {
  name = "web",
  cmd = { "sh", "-c", "echo 'web: serving'; exec sleep 100000" },
  after = { migrate = "succeeded" },
  restart = "always",
}
