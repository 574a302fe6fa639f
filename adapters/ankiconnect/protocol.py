"""AnkiConnect's envelope: which origins may call, which key selects the user, how an
action is looked up and called, and how its result or error is answered.

As in AnkiConnect (protocol version 6):
- the body is one JSON object `{"action", "version", "params", "key"}`; `version`
  defaults to 4, and up to 4 a success answers the bare result; otherwise (and for
  every error) the answer is `{"result": ..., "error": ...}`, always with status 200;
- an empty body from an allowed origin answers the text `AnkiConnect v.6`, a body that
  is not such an object answers an error;
- a browser origin that is not allowed gets 403 with an empty body, except for
  `requestPermission`, which any origin may call without a key and which answers
  whether the origin is allowed;
- every other action needs `key`: here, one of the user's API tokens, which also says
  whose collection the action works on.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from adapters.ankiconnect.params import ActionError, Call, Services
from adapters.http import text
from domain.accounts import Accounts
from domain.errors import AuthFailed, BadRequest, Retryable, SyncError
from domain.model import UserId
from domain.search import SearchError

log = logging.getLogger("ankiserv.ankiconnect")

API_VERSION = 6
DEFAULT_ORIGINS = ("http://localhost",)
_LOCALHOST = "http://localhost"
# What AnkiConnect also lets in when `http://localhost` is allowed: the loopback address
# and browser extensions (Yomitan, ...), which have no fixed origin.
_LOOPBACK = ("http://127.0.0.1", "https://127.0.0.1")
_LOOPBACK_PREFIX = "http://127.0.0.1:"
_EXTENSIONS = ("chrome-extension://", "moz-extension://", "safari-web-extension://")
MAX_MULTI = 1_000
KEY_REFUSED = "valid api key must be provided"

Action = Callable[..., Any]


def cors(origin: str | None, allowed: tuple[str, ...]) -> tuple[bool, str]:
    """Whether a request from `origin` may call actions, and the value of
    `Access-Control-Allow-Origin` to answer it with (AnkiConnect's rules)."""
    if "*" in allowed:
        return True, "*"
    if origin is None:  # not from a browser page
        return True, _LOCALHOST
    if origin in allowed:
        return True, origin
    if _LOCALHOST in allowed and (origin in _LOOPBACK or origin.startswith(
            (_LOOPBACK_PREFIX, *_EXTENSIONS))):
        return True, origin
    return False, _LOCALHOST


@dataclass(frozen=True)
class Request:
    """One action to run (a whole request, or one of `multi`'s actions)."""

    action: str
    version: int
    params: dict[str, Any]
    key: Any


def decode(body: bytes) -> dict[str, Any]:
    """The request object, or `ActionError` saying what is wrong with it."""
    try:
        decoded = body.decode("utf-8")
        value = json.loads(decoded)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise ActionError("the request is not valid JSON") from None
    if not isinstance(value, dict):
        raise ActionError("the request must be a JSON object")
    try:
        text.check_json(decoded, value)
    except BadRequest as e:
        raise ActionError(str(e)) from None
    return value


def parse_request(value: Any) -> Request:
    """Check the envelope's fields as AnkiConnect's request schema does."""
    if not isinstance(value, dict):
        raise ActionError("an action must be a JSON object")
    action, version = value.get("action"), value.get("version", 4)
    params = value.get("params", {})
    if not isinstance(action, str) or not action:
        raise ActionError('"action" must be a non-empty string')
    if isinstance(version, bool) or not isinstance(version, int):
        raise ActionError('"version" must be an integer')
    if not isinstance(params, dict):
        raise ActionError('"params" must be an object')
    return Request(action, version, params, value.get("key"))


def success(version: int, result: Any) -> Any:
    return result if version <= 4 else {"result": result, "error": None}


def failure(message: str) -> dict[str, Any]:
    return {"result": None, "error": message}


def _listed(names: list[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def bind(name: str, action: Action, params: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments for `action` (whose first parameter is the `Call`), refusing
    unknown and missing ones with the messages Python gives AnkiConnect."""
    accepted = list(inspect.signature(action).parameters.values())[1:]
    if any(p.kind is p.VAR_KEYWORD for p in accepted):
        return dict(params)
    names = {p.name for p in accepted}
    for given in params:
        if given not in names:
            raise ActionError(f"{name}() got an unexpected keyword argument '{given}'")
    missing = [p.name for p in accepted if p.default is p.empty and p.name not in params]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise ActionError(f"{name}() missing {len(missing)} required positional "
                          f"argument{plural}: {_listed(missing)}")
    return dict(params)


def error_message(error: Exception) -> str:
    """What the `error` field says for an exception an action raised."""
    if isinstance(error, AuthFailed):
        return KEY_REFUSED
    if isinstance(error, Retryable):
        return "the database is busy; try again"
    if isinstance(error, ActionError | SyncError | SearchError):
        return str(error)
    log.exception("AnkiConnect action failed", exc_info=error)
    return "internal server error"


@dataclass(frozen=True)
class Origin:
    """Where the HTTP request came from, for `requestPermission`."""

    header: str
    allowed: bool


class Dispatcher:
    """Runs requests: checks the key, finds the action, binds its parameters, and turns
    whatever happens into AnkiConnect's answer."""

    def __init__(self, accounts: Accounts, services: Services,
                 actions: Mapping[str, Action], unlisted: Collection[str] = ()) -> None:
        """`unlisted`: actions that only answer an error here, which `apiReflect` does
        not name (so a tool asking whether one exists does not offer it)."""
        self._accounts, self._services, self._actions = accounts, services, actions
        self._listed = sorted({*actions, "apiReflect", "multi", "requestPermission"}
                              - set(unlisted))

    def run(self, raw: Any, origin: Origin, user: UserId | None = None,
            outer_key: Any = None) -> Any:
        """The answer to one request (`user` and `outer_key`: those of the enclosing
        `multi`, whose actions need not repeat the key)."""
        version = 4
        try:
            request = parse_request(raw)
            version = request.version
            if request.action == "requestPermission":
                return success(version, self._permission(request, origin))
            user = self._user(request.key, user, outer_key)
            if request.action == "multi":
                bind("multi", _multi_signature, request.params)
                return success(version, self._multi(request, origin, user))
            if request.action == "apiReflect":
                bind("apiReflect", _reflect_signature, request.params)
                return success(version, self._reflect(**request.params))
            action = self._actions.get(request.action)
            if action is None:
                raise ActionError("unsupported action")
            kwargs = bind(request.action, action, request.params)
            return success(version, action(Call(user, self._services), **kwargs))
        except Exception as e:  # every failure is an answer, as in AnkiConnect
            return failure(error_message(e))

    def _user(self, key: Any, user: UserId | None, outer_key: Any) -> UserId:
        if user is not None and (key is None or key == outer_key):
            return user  # an action inside `multi`: the outer key already chose the user
        if not isinstance(key, str) or not key or user is not None:
            raise AuthFailed(KEY_REFUSED)
        return self._accounts.authenticate(key)

    @staticmethod
    def _permission(request: Request, origin: Origin) -> dict[str, Any]:
        bind("requestPermission", _permission_signature, request.params)
        if not origin.allowed:
            return {"permission": "denied"}
        # NOTE: AnkiConnect spells it `requireApikey` in what it sends (its README says
        # `requireApiKey`); clients read what it sends. ankiserv always needs a key.
        return {"permission": "granted", "requireApikey": True, "version": API_VERSION}

    def _reflect(self, scopes: Any = None, actions: Any = None) -> dict[str, Any]:
        """Which actions this server has (all, or those of `actions` that it has)."""
        if not isinstance(scopes, list):
            raise ActionError("scopes has invalid value")
        if not (actions is None or (isinstance(actions, list)
                                    and all(isinstance(a, str) for a in actions))):
            raise ActionError("actions has invalid value")
        if "actions" not in scopes:
            return {"scopes": []}
        listed = set(self._listed)
        found = self._listed if actions is None else [a for a in actions if a in listed]
        return {"scopes": ["actions"], "actions": found}

    def _multi(self, request: Request, origin: Origin, user: UserId) -> list[Any]:
        actions = request.params["actions"]
        if not isinstance(actions, list):
            raise ActionError('"actions" must be an array')
        if len(actions) > MAX_MULTI:
            raise ActionError(f'"actions" holds more than {MAX_MULTI} actions')
        results = []
        for item in actions:
            if isinstance(item, dict) and item.get("action") == "multi":
                results.append(failure("multi cannot be nested"))
            else:
                results.append(self.run(item, origin, user, request.key))
        return results


def _multi_signature(call: Call, actions: Any) -> None:
    """The parameters of `multi` (run by `Dispatcher._multi`)."""


def _reflect_signature(call: Call, scopes: Any = None, actions: Any = None) -> None:
    """The parameters of `apiReflect` (run by `Dispatcher._reflect`)."""


def _permission_signature(call: Call, origin: Any = None, allowed: Any = None) -> None:
    """The parameters of `requestPermission` (AnkiConnect fills in both itself)."""
