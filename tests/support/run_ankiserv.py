"""`python -m tests.support.run_ankiserv ARGS` is `ankiserv ARGS` (`python -m entrypoints`)
that also checks the SQL it sends when a test session asks it to (see `sql_capture`): how
tests run servers and commands in a subprocess."""

from __future__ import annotations

import os
import runpy

if __name__ == "__main__":
    if os.environ.get("TEST_SQL_CAPTURE"):  # sql_capture.ENV
        from tests.support import sql_capture

        sql_capture.install_in_server()
    runpy.run_module("entrypoints", run_name="__main__", alter_sys=True)
