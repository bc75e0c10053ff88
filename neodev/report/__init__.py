"""Reports: one file with everything needed to understand an environment afterwards.

`record` asks a running daemon for everything (through `neodev.client`, like any client) and
`archive` writes it as one bounded zip of protocol records; `viewer.ReportClient` reads it back
and answers the dashboard's requests from it, so the dashboard shows the environment as it was
with no daemon and no Docker. The package is a client: it never loads the server, the engine
or a driver (an import-linter contract says so), and `doctor`'s checks are handed in by the
CLI, which runs them.

Import the parts from their modules (`neodev.report.viewer.ReportClient`...): the package
itself loads nothing, so the CLI's short commands do not pay for it.
"""
