"""gunicorn's access-line atoms lose every credential, whatever the access log format."""

from __future__ import annotations

from gunicorn.glogging import SafeAtoms

from entrypoints.access_log import REDACTED, redact_atoms, redact_query

KEY = "1.f58859e59648712aaf8b15217bb5a214230d1b28"


def test_query_values_are_redacted_but_harmless_ones() -> None:
    assert redact_query(f"k={KEY}&v=anki,2.1.50") == f"k={REDACTED}&v=anki,2.1.50"
    assert redact_query(f"limit=5&token={KEY}&{KEY}&Key={KEY}&q=caf%C3%A9") == (
        f"limit=5&token={REDACTED}&{REDACTED}&Key={REDACTED}&q=caf%C3%A9")
    assert redact_query("") == ""


def test_request_line_referer_user_and_secret_headers_are_redacted() -> None:
    atoms = SafeAtoms({
        "r": f"GET /msync/begin?k={KEY}&v=x HTTP/1.1", "q": f"k={KEY}&v=x",
        "f": f"https://example.org/page?token={KEY}#top", "u": "typed-password",
        "{authorization}i": f"Bearer {KEY}", "{cookie}i": f"session={KEY}",
        "{anki-sync}i": f'{{"k": "{KEY}"}}', "{http_authorization}e": f"Basic {KEY}",
        "{raw_uri}e": f"/msync/begin?k={KEY}", "{query_string}e": f"k={KEY}",
        "{user-agent}i": "AnkiDroid", "s": 200,
    })
    safe = redact_atoms(atoms)
    # How gunicorn formats its access line: %-formatting with the atoms.
    line = "%(r)s %(q)s %(f)s %(u)s %({Authorization}i)s %({missing}i)s %(s)s" % safe  # noqa: UP031
    assert KEY not in line and "typed-password" not in line
    assert "/msync/begin?k=[redacted]&v=x" in line and "#top" in line
    assert KEY not in " ".join(str(v) for v in safe.values())
    assert safe["{user-agent}i"] == "AnkiDroid" and safe["{missing}i"] == "-"
    assert atoms["u"] == "typed-password"  # the record's own atoms are left alone
