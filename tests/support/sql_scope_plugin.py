"""The pytest side of the SQL scope check (`sql_capture`): capture for the whole session;
a test that sent a statement not scoped to one user fails at its teardown, and the
summary lists every such statement. Registered by tests/conftest.py."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.sql_capture import DUMP_ENV, report, start_session


class Plugin:
    """Captures from its creation (pytest_configure) to the end of the session."""

    def __init__(self) -> None:
        self.session = start_session()

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        if self.session is not None:
            self.session.test = nodeid

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self) -> Iterator[None]:
        result = yield
        if self.session is not None:
            self.session.read_servers()
            new = self.session.take_new()
            if new:
                pytest.fail(report(new), pytrace=False)
        return result

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.session is None:
            return
        self.session.test = "(after the last test)"
        self.session.read_servers()
        if self.session.findings and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        s = self.session
        if s is None:
            return
        terminalreporter.write_line(s.summary())
        if s.findings:
            terminalreporter.write_sep("=", "SQL statements not scoped to one user_id",
                                       red=True)
            terminalreporter.write_line(report(s.findings))

    def pytest_unconfigure(self) -> None:
        s = self.session
        if s is None:
            return
        if s.capture.judged is not None:
            Path(os.environ[DUMP_ENV]).write_text("".join(
                f"{d}\t{'good' if ok else 'BAD'}\t{text}\n" for d, text, ok in s.capture.judged))
        s.capture.uninstall()
        shutil.rmtree(s.folder, ignore_errors=True)
