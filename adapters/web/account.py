"""The account page: who is logged in where, API tokens, the password, the collection."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import falcon

from adapters.ankifile.user_package import MediaKeptChanging, export_package
from adapters.web import describe
from adapters.web.forms import WebResource, field, posted_form
from adapters.web.session import CSRF_FIELD, Visitor
from domain.accounts import Accounts, normalise_label
from domain.errors import AuthFailed, LoginThrottled
from domain.model import HostKeyInfo, KeyKind
from domain.user_export import UserExporter
from ports.media import BlobStore

# What a finished action says on the page it leads back to (`?done=`).
DONE = {
    "revoked": "That device was logged out: its next sync asks it to log in again.",
    "token-revoked": "The token was revoked: tools using it are refused from now on.",
    "password": "Your password was changed. Every device, other browser and API token "
                "was logged out: log in again in each Anki app with the new password.",
}


@dataclass(frozen=True)
class KeyRow:
    """One line of the devices or tokens table."""

    digest: str
    what: str
    created: str
    created_ago: str
    used: str
    used_ago: str
    this_browser: bool


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _row(key: HostKeyInfo, now: int, this_digest: str) -> KeyRow:
    if key.kind == KeyKind.WEB:
        what = describe.browser(key.client)
    elif key.kind == KeyKind.API:
        what = key.label or "API token"
    else:
        what = key.label or (describe.sync_client(key.client) if key.client
                             else "Anki client")
    used = key.last_used_ms
    return KeyRow(key.digest, what, _when(key.created_ms), describe.ago(key.created_ms, now),
                  _when(used) if used else "", describe.ago(used, now) if used else "never",
                  key.digest == this_digest)


@dataclass(frozen=True)
class AccountPage(WebResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        visitor = self.sessions.require(req)
        token = self.sessions.take_new_token(req, resp, visitor)
        self.show(req, resp, visitor, message=DONE.get(req.get_param("done") or "", ""),
                  new_token=token)

    def show(self, req: falcon.Request, resp: falcon.Response, visitor: Visitor,
             status: int = 200, **extra: str) -> None:
        accounts = self.sessions.accounts
        now = accounts.clock.now_ms()
        this = accounts.key_digest(visitor.key)
        keys = accounts.keys(visitor.user_id)
        # This browser first, then the most recently used: the device someone is looking
        # for is usually a recent one.
        keys.sort(key=lambda k: (k.digest != this, -k.last_used_ms, -k.created_ms))
        devices = [_row(k, now, this) for k in keys if k.kind != KeyKind.API]
        tokens = [_row(k, now, this) for k in keys if k.kind == KeyKind.API]
        resp.set_header("Cache-Control", "no-store")  # it may show a new token
        self.pages.render(resp, "account.html", status, visitor=visitor, csrf_field=CSRF_FIELD,
                          devices=devices, tokens=tokens, new_token=extra.get("new_token", ""),
                          message=extra.get("message", ""),
                          password_error=extra.get("password_error", ""),
                          new_token_label=next((k.label for k in keys if extra.get(
                              "new_token") and k.digest == accounts.key_digest(
                              extra["new_token"])), ""),
                          token_error=extra.get("token_error", ""),
                          token_label=extra.get("token_label", ""))


@dataclass(frozen=True)
class PasswordChange(WebResource):
    account: AccountPage

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        visitor = self.sessions.require(req)
        form = posted_form(req)
        self.sessions.check_csrf(req, visitor.csrf)
        current, new, again = (field(form, n) for n in ("current", "new", "repeat"))
        problem = ("Enter your current password." if not current else
                   "Enter a new password." if not new else
                   "The new password and its repetition differ." if new != again else "")
        if problem:
            self.account.show(req, resp, visitor, 400, password_error=problem)
            return
        accounts: Accounts = self.sessions.accounts
        try:
            key = accounts.change_password(visitor.user_id, current, new,
                                           self.sessions.client(req), req.user_agent or "")
        except LoginThrottled as e:
            resp.set_header("Retry-After", str(e.retry_after_s))
            self.account.show(req, resp, visitor, 429, password_error=(
                f"Too many wrong passwords: try again in {e.retry_after_s} seconds."))
            return
        except AuthFailed:
            self.account.show(req, resp, visitor, 400,
                              password_error="That is not your current password.")
            return
        self.sessions.renew(req, resp, key)
        raise falcon.HTTPSeeOther(f"{self.pages.base}account?done=password")


@dataclass(frozen=True)
class KeyRevocation(WebResource):
    """Log one device or browser out, or revoke one API token."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        visitor = self.sessions.require(req)
        form = posted_form(req)
        self.sessions.check_csrf(req, visitor.csrf)
        digest = field(form, "key")
        accounts = self.sessions.accounts
        kinds = {k.digest: k.kind for k in accounts.keys(visitor.user_id)}
        if digest not in kinds or not accounts.revoke_digest(visitor.user_id, digest):
            raise falcon.HTTPNotFound(description="that device or token is not logged in"
                                      " (any more)")
        if digest == accounts.key_digest(visitor.key):  # this very browser: logged out
            self.sessions.forget(resp)
            raise falcon.HTTPSeeOther(self.pages.base)
        done = "token-revoked" if kinds[digest] == KeyKind.API else "revoked"
        raise falcon.HTTPSeeOther(f"{self.pages.base}account?done={done}")


@dataclass(frozen=True)
class TokenCreation(WebResource):
    account: AccountPage

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        visitor = self.sessions.require(req)
        form = posted_form(req)
        self.sessions.check_csrf(req, visitor.csrf)
        label = field(form, "label")
        try:
            label = normalise_label(label)
        except ValueError:
            self.account.show(req, resp, visitor, 400, token_label=label, token_error=(
                "Give the token a name of 1 to 100 characters, such as the tool that will"
                " use it."))
            return
        token = self.sessions.accounts.new_token(visitor.user_id, label)
        # Shown once, by the page this redirects to (so a reload cannot make another).
        self.sessions.hand_new_token(req, resp, token)
        raise falcon.HTTPSeeOther(f"{self.pages.base}account")


@dataclass(frozen=True)
class CollectionDownload(WebResource):
    """`/account/collection.colpkg`: the user's collection and media, for Anki's
    File → Import."""

    exporter: UserExporter
    blobs: BlobStore
    tmp_dir: Path

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        visitor = self.sessions.require(req)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(suffix=".colpkg", dir=self.tmp_dir)
        os.close(fd)
        path = Path(name)
        try:
            export_package(self.exporter, self.blobs, visitor.name, path)
            # Open, then unlink: the open file streams out and vanishes when closed.
            stream = path.open("rb")
        except MediaKeptChanging as e:
            raise falcon.HTTPServiceUnavailable(description=str(e)) from None
        finally:
            path.unlink(missing_ok=True)
        today = datetime.now(UTC).strftime("%Y-%m-%d")
        filename = f"{visitor.name} {today}.colpkg"
        resp.content_type = "application/octet-stream"
        resp.set_header("Content-Disposition", f"attachment; filename=\"collection-{today}"
                        f".colpkg\"; filename*=UTF-8''{quote(filename, safe='')}")
        resp.set_header("Cache-Control", "no-store")
        resp.set_stream(stream, os.fstat(stream.fileno()).st_size)
