"""Services a run starts around the servers: PostgreSQL, pgbouncer and nginx."""
