"""The bottom layer: errors, paths, process helpers and interval statistics, shared by
every stage and importing nothing else of the harness."""
