"""The `panther` command line; the console entry point is `panther.cli.main.start`."""
