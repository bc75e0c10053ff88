"""`python -m neodev.daemon` runs the workspace daemon (spawned by `neodev start`)."""

import sys

from neodev.daemon.server import main

sys.exit(main())
