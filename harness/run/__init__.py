"""Running a scenario: the runner, one cell, launching servers, the session of background
services (database, pgbouncer, nginx, upstream), Locust as a subprocess, faults, resume
and verify."""
