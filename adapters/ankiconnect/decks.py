"""AnkiConnect's deck, model (note type) and miscellaneous actions."""

from __future__ import annotations

from typing import Any

from adapters.ankiconnect.params import ActionError, Call, flag, strings_list, text
from adapters.ankiconnect.protocol import API_VERSION, Action
from domain.errors import SyncRejected
from domain.model import ObjectKind

# AnkiConnect's actions that drive Anki's windows; a server has none.
GUI_ACTIONS = (
    "guiBrowse", "guiSelectCard", "guiSelectNote", "guiSelectedNotes", "guiAddCards",
    "guiEditNote", "guiReviewActive", "guiCurrentCard", "guiStartCardTimer",
    "guiShowQuestion", "guiShowAnswer", "guiAnswerCard", "guiUndo", "guiDeckOverview",
    "guiDeckBrowser", "guiDeckReview", "guiImportFile", "guiExitAnki", "guiCheckDatabase",
    "guiPlayAudio",
)


def _name_order(name: str) -> list[str]:
    """Anki lists decks and note types by name, ignoring case, parents first."""
    return name.casefold().split("::")


def deck_ids(call: Call) -> dict[str, int]:
    """The user's decks, by name in Anki's order."""
    decks = {str(d["name"]): int(d["id"]) for d in call.api.objects(call.user, ObjectKind.DECK)}
    return {name: decks[name] for name in sorted(decks, key=_name_order)}


def deck_names(call: Call) -> dict[int, str]:
    """The user's deck names by id."""
    return {i: n for n, i in deck_ids(call).items()}


def find_deck(call: Call, name: str) -> int | None:
    """The id of the deck called `name` (ignoring case, as Anki looks decks up)."""
    wanted = "::".join(part.strip() for part in name.split("::")).casefold()
    return next((i for n, i in deck_ids(call).items() if n.casefold() == wanted), None)


def notetypes(call: Call) -> dict[str, dict[str, Any]]:
    """The user's note types by name, in Anki's order."""
    found = {str(n["name"]): n for n in call.api.objects(call.user, ObjectKind.NOTETYPE)}
    return {name: found[name] for name in sorted(found, key=str.casefold)}


def field_names(notetype: dict[str, Any]) -> list[str]:
    fields = sorted(notetype.get("flds", []), key=lambda f: int(f.get("ord", 0)))
    return [str(f.get("name", "")) for f in fields]


def notetype_named(call: Call, name: str) -> dict[str, Any]:
    found = notetypes(call).get(name)
    if found is None:
        raise ActionError(f"model was not found: {name}")
    return found


def version(call: Call) -> int:
    return API_VERSION


def sync(call: Call) -> None:
    """Nothing to do: the server is where devices sync to; they get the changes made
    here on their next sync."""


def deckNames(call: Call) -> list[str]:
    return list(deck_ids(call))


def deckNamesAndIds(call: Call) -> dict[str, int]:
    return deck_ids(call)


def createDeck(call: Call, deck: Any) -> int:
    """The deck's id, creating it (and its parents) unless it exists."""
    name = text(deck, "deck")
    found = find_deck(call, name)
    if found is not None:
        return found
    try:
        return call.api.add_deck(call.user, name)
    except SyncRejected:
        found = find_deck(call, name)  # created meanwhile by another request
        if found is None:
            raise
        return found


def deleteDecks(call: Call, decks: Any, cardsToo: Any = False) -> None:
    """Delete the named decks (names as `deckNames` gives them; others are skipped) with
    their subdecks and cards, as Anki does; AnkiConnect refuses unless `cardsToo`."""
    names = strings_list(decks, "decks")
    if not flag(cardsToo, "cardsToo"):
        raise ActionError("Since Anki 2.1.28 it's not possible to delete decks without "
                          "deleting cards as well")
    for name in names:
        did = deck_ids(call).get(name)
        if did is not None:
            call.api.delete_deck(call.user, did)


def modelStyling(call: Call, modelName: Any) -> dict[str, str]:
    return {"css": str(notetype_named(call, text(modelName, "modelName")).get("css", ""))}


def modelNames(call: Call) -> list[str]:
    return list(notetypes(call))


def modelNamesAndIds(call: Call) -> dict[str, int]:
    return {name: int(n["id"]) for name, n in notetypes(call).items()}


def modelFieldNames(call: Call, modelName: Any) -> list[str]:
    return field_names(notetype_named(call, text(modelName, "modelName")))


def _gui(call: Call, **_: Any) -> None:
    raise ActionError("this action needs Anki's windows, and ankiserv has none: "
                      "use the web app, or AnkiConnect in Anki itself")


ACTIONS: dict[str, Action] = {
    "version": version, "sync": sync, "deckNames": deckNames,
    "deckNamesAndIds": deckNamesAndIds, "createDeck": createDeck, "modelNames": modelNames,
    "modelNamesAndIds": modelNamesAndIds, "modelFieldNames": modelFieldNames,
    "deleteDecks": deleteDecks, "modelStyling": modelStyling,
    **dict.fromkeys(GUI_ACTIONS, _gui),
}
