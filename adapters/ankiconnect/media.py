"""AnkiConnect's media actions, and the media objects of `addNote` and `updateNoteFields`.

A file stored here goes into the blob store and the media index through
`MediaServer.upload`, exactly like a file a device uploads, so every device downloads it
on its next media sync (and a deletion spreads the same way).

`path` names a file on AnkiConnect's own machine; here that would be the server's file
system, so it is refused. `url` makes the server download the file, which only a
server configured with `allow_urls` does, and only from public addresses unless it is
also given a fetcher that allows private ones (see `url_fetch`).
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import html
import io
import re
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from adapters.ankiconnect.decks import field_names
from adapters.ankiconnect.params import ActionError, Call, flag, obj, text
from adapters.ankiconnect.protocol import Action
from adapters.ankiconnect.url_fetch import Fetcher
from domain.errors import SyncError
from domain.media import UploadedChange, check_name
from domain.model import Note, ObjectKind
from domain.sync.note_text import FIELD_SEPARATOR

if TYPE_CHECKING:
    from adapters.ankiconnect.adding import Candidate

MEDIA_KINDS = ("audio", "video", "picture")
MAX_MEDIA_OBJECTS = 100
_ILLEGAL = re.compile(r'[\[\]<>:"/?*^\\|\x00-\x1f\x7f]')  # what Anki strips from names


def normalise(filename: str) -> str:
    """The name Anki would store `filename` under: NFC, without characters that are not
    allowed in file names; `ActionError` if nothing usable is left."""
    name = _ILLEGAL.sub("", unicodedata.normalize("NFC", filename))
    try:
        return check_name(name)
    except SyncError as e:
        raise ActionError(str(e)) from None


# The default fetcher: public addresses only.
fetch = Fetcher()


def _contents(call: Call, data: Any, path: Any, url: Any) -> bytes:
    """The file's bytes from `data` (base64), else `path`, else `url`, as AnkiConnect
    takes the first of them that is given."""
    if data:
        try:
            decoded = base64.b64decode(text(data, "data"))
        except (binascii.Error, ValueError):
            raise ActionError('"data" is not valid base64') from None
        if len(decoded) > call.services.max_media_bytes:
            raise ActionError(f"the file is larger than {call.services.max_media_bytes} bytes")
        return decoded
    if path:
        raise ActionError('"path" names a file on the server, which is not allowed: '
                          'send the file\'s contents as "data"')
    if not call.services.allow_urls:
        raise ActionError('"url" is not allowed on this server: send the file\'s contents '
                          'as "data"')
    fetcher = call.services.fetch_url or fetch
    return fetcher(text(url, "url"), call.services.max_media_bytes)


def _unique_name(name: str, sha1: str) -> str:
    """Anki's name for new content under a name that is taken: the hash after the stem."""
    stem, dot, extension = name.rpartition(".")
    return f"{stem}-{sha1}.{extension}" if dot and stem else f"{name}-{sha1}"


def store_file(call: Call, filename: Any, data: Any = None, path: Any = None, url: Any = None,
               skipHash: Any = None, deleteExisting: Any = True) -> str | None:
    """Store one file; its name, or None when `skipHash` is the MD5 of its contents."""
    name = normalise(text(filename, "filename"))
    if not (data or path or url):
        raise ActionError('You must provide a "data", "path", or "url" field.')
    contents = _contents(call, data, path, url)
    if skipHash is not None and text(skipHash, "skipHash") == hashlib.md5(
            contents, usedforsecurity=False).hexdigest():
        return None
    sha1 = hashlib.sha1(contents, usedforsecurity=False).hexdigest()
    existing = call.services.media.present(call.user, name)
    if existing is not None and existing.sha1 == sha1:
        return name
    if existing is not None and not deleteExisting:
        name = _unique_name(name, sha1)
    _upload(call, name, contents)
    return name


def _upload(call: Call, name: str, contents: bytes | None) -> None:
    """Add, replace (bytes) or delete (None) one file, as a device's media upload does."""
    sources = [] if contents is None else [(lambda: io.BytesIO(contents), len(contents))]
    pending = call.services.blobs.stage_many(call.user, sources)
    try:
        blob = pending.blobs[0] if contents is not None else None
        call.services.media.upload(call.user, [UploadedChange(name, blob)], pending)
    finally:
        pending.discard()


# -- media objects inside notes ----------------------------------------------------------


def _requests(raw: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for kind in MEDIA_KINDS:
        value = raw.get(kind)
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        found.extend((kind, obj(item, kind)) for item in items if item is not None)
    if len(found) > MAX_MEDIA_OBJECTS:
        raise ActionError(f"a note may carry at most {MAX_MEDIA_OBJECTS} media files")
    return found


def with_media(found: Candidate, raw: Any) -> Candidate:
    """The candidate with the media objects its AnkiConnect note carries."""
    found.media = _requests(obj(raw, "note"))
    return found


def _attach(call: Call, names: list[str], values: list[str],
            requests: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Store each media object's file and show it in its fields (by exact name); as in
    AnkiConnect, a file that cannot be stored puts the reason into those fields."""
    for kind, request in requests:
        targets = request.get("fields")
        if not isinstance(targets, list) or not targets:
            continue
        try:
            stored = store_file(call, request.get("filename"), request.get("data"),
                                request.get("path"), request.get("url"),
                                request.get("skipHash"), bool(request.get("deleteExisting")))
            if stored is None:
                continue
            shown = f'<img src="{html.escape(stored)}">' if kind == "picture" \
                else f"[sound:{stored}]"
        except (ActionError, SyncError) as e:
            shown = html.escape(str(e), quote=False)
        for target in targets:
            if isinstance(target, str) and target in names:
                values[names.index(target)] += shown


def store_for(call: Call, ready: Sequence[Candidate]) -> None:
    """Store the media of notes about to be added, and show it in their fields."""
    for found in ready:
        if found.media:
            _attach(call, found.names, found.values, found.media)


def with_note_media(call: Call, note: Note, fields: dict[str, str],
                    raw: dict[str, Any]) -> dict[str, str]:
    """`fields` for an existing note, with the media objects of `raw` stored and shown
    (in a field being set, or else after the field's current value)."""
    requests = _requests(raw)
    if not requests:
        return fields
    names = field_names(call.api.object(call.user, ObjectKind.NOTETYPE, note.mid))
    current = note.flds.split(FIELD_SEPARATOR)
    current += [""] * (len(names) - len(current))
    values = [fields.get(name, current[i]) for i, name in enumerate(names)]
    _attach(call, names, values, requests)
    return {name: values[i] for i, name in enumerate(names)
            if name in fields or values[i] != current[i]}


# -- actions -----------------------------------------------------------------------------


def storeMediaFile(call: Call, filename: Any, data: Any = None, path: Any = None,
                   url: Any = None, skipHash: Any = None, deleteExisting: Any = True
                   ) -> str | None:
    return store_file(call, filename, data, path, url, skipHash,
                      flag(deleteExisting, "deleteExisting"))


def _lookup_name(filename: Any) -> str | None:
    name = text(filename, "filename").replace("\\", "/").rsplit("/", 1)[-1]
    try:
        return normalise(name)
    except ActionError:
        return None


def retrieveMediaFile(call: Call, filename: Any) -> str | bool:
    """The file's contents in base64, or false if there is no such file."""
    name = _lookup_name(filename)
    entry = None if name is None else call.services.media.present(call.user, name)
    blob = None if entry is None else call.services.blobs.open(call.user, entry.sha1)
    if blob is None:
        return False
    with blob:
        return base64.b64encode(blob.read()).decode("ascii")


def _all_names(call: Call) -> list[str]:
    """Every present media file of the user (the index, read a page at a time)."""
    present: dict[str, bool] = {}
    usn = -1
    while page := call.services.media.changes(call.user, usn):
        for entry in page:
            present[entry.fname] = not entry.deleted
        usn = page[-1].usn
    return sorted(name for name, here in present.items() if here)


def getMediaFilesNames(call: Call, pattern: Any = "*") -> list[str]:
    """The names matching a glob `pattern` (as in a folder: `*` skips dot files)."""
    wanted = text(pattern, "pattern")
    return [name for name in _all_names(call) if fnmatch.fnmatchcase(name, wanted)
            and (not name.startswith(".") or wanted.startswith("."))]


def deleteMediaFile(call: Call, filename: Any) -> None:
    name = _lookup_name(filename)
    if name is not None and call.services.media.present(call.user, name) is not None:
        _upload(call, name, None)


ACTIONS: dict[str, Action] = {
    "storeMediaFile": storeMediaFile, "retrieveMediaFile": retrieveMediaFile,
    "getMediaFilesNames": getMediaFilesNames, "deleteMediaFile": deleteMediaFile,
}
