"""Reports: one file with everything needed to understand an environment afterwards.

`record` asks a running daemon for everything (through `neodev.client`, like any client) and
`archive` writes it as one bounded zip of protocol records; `viewer.ReportClient` reads it back
and answers the dashboard's requests from it, so the dashboard shows the environment as it was
with no daemon and no Docker. The package is a client: it never loads the server, the engine
or a driver (an import-linter contract says so), and `doctor`'s checks are handed in by the
CLI, which runs them.
"""

from neodev.report.archive import read_archive, write_archive
from neodev.report.model import MAX_BYTES, CheckLine, Cut, Manifest, Report
from neodev.report.record import record
from neodev.report.viewer import ReportClient

__all__ = ["MAX_BYTES", "CheckLine", "Cut", "Manifest", "Report", "ReportClient",
           "read_archive", "record", "write_archive"]
