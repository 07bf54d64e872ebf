"""Small launchers for servers that have no command line of their own."""
