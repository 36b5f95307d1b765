"""One module per subcommand; each `run()` takes typed keyword arguments and returns an exit code.

`outputs` holds the report and gate options that check, scan and merge share."""
