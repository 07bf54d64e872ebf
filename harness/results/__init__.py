"""The results directory: its format (columns, schema version and history), per-request
records, file writing and reading, environment facts, and finding runs. Imports nothing
of the harness but harness.core."""
