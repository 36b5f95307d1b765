"""One module per subcommand; each `run()` takes typed keyword arguments and returns an exit code."""
