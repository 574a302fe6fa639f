"""Studying a deck in the browser: the question, the answer with Anki's four buttons and
their intervals, undo, and a finished screen; the keyboard works as in Anki (space or
Enter, 1-4, u) through one small script.

Card content comes from shared decks and is untrusted: each side is a document of its
own, loaded in a sandboxed frame (an origin of its own: no cookies, no API) with a
policy that lets its scripts run but reach nothing, from an address signed for the user
(the frame carries no cookie)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import quote

import falcon

from adapters.web.forms import WebResource, field, posted_form
from adapters.web.media_files import send_media
from adapters.web.session import CSRF_FIELD, Visitor
from domain.media_server import MediaServer
from domain.model import UserId
from domain.study import Study, StudyScreen
from ports.media import BlobStore
from ports.study import RATINGS, CardChanged, NoSuchCard

STUDY_CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "
             "frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
# A card's own document: its styles and scripts run, but load and send nothing but the
# user's media, and it stays in its sandbox even when opened on its own.
CARD_CSP = ("default-src 'none'; img-src 'self' data:; media-src 'self'; font-src 'self' data:;"
            " style-src 'self' 'unsafe-inline'; script-src 'unsafe-inline'; base-uri 'self';"
            " form-action 'none'; frame-ancestors 'self'; sandbox allow-scripts")
_PLAY = re.compile(r"\[anki:play:([qa]):(\d+)\]")


def _number(text: str | None, name: str) -> int:
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 19:
        raise falcon.HTTPBadRequest(description=f"{name} is not valid")
    return int(text)


@dataclass(frozen=True)
class StudyResource(WebResource):
    study: Study


class StudyPage(StudyResource):
    """`/study/{deck}`: entering syncs first; `?then=1` (after an answer) does not."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, deck: str) -> None:
        visitor = self.sessions.require(req)
        deck_id = _number(deck, "the deck")
        answer_for = req.get_param("answer")
        self.show(req, resp, visitor, deck_id, sync=req.get_param("then") is None,
                  answer_for=None if answer_for is None else _number(answer_for, "card"),
                  shown=req.get_param("shown"))

    def show(self, req: falcon.Request, resp: falcon.Response, visitor: Visitor,
             deck_id: int, sync: bool, answer_for: int | None = None,
             shown: str | None = None, status: int = 200, note: str = "") -> None:
        self.render(resp, visitor, self.study.open_deck(visitor.user_id, deck_id, sync),
                    answer_for, shown, status, note)

    def render(self, resp: falcon.Response, visitor: Visitor, screen: StudyScreen,
               answer_for: int | None = None, shown: str | None = None, status: int = 200,
               note: str = "") -> None:
        if screen.deck_name is None:
            raise falcon.HTTPNotFound(description="there is no such deck (any more)")
        card = screen.card
        answering = card is not None and answer_for == card.card_id
        now = self.sessions.accounts.clock.now_ms()
        shown_ms = int(shown) if answering and shown and shown.isdigit() else now
        frame = ""
        if card is not None:
            side = "a" if answering else "q"
            frame = (f"{self.pages.base}study/frame/{self.study.frame_pass(visitor.user_id)}"
                     f"/card/{card.card_id}/{side}")
        self.pages.render(
            resp, "study.html", status, csp=STUDY_CSP, visitor=visitor, csrf_field=CSRF_FIELD,
            screen=screen, answering=answering, frame=frame, shown=shown_ms, note=note,
            ratings=list(enumerate(RATINGS, start=1)),
            refresh=1 if screen.preparing else None)


@dataclass(frozen=True)
class AnswerAction(StudyResource):
    page: StudyPage

    def on_post(self, req: falcon.Request, resp: falcon.Response, deck: str) -> None:
        visitor = self.sessions.require(req)
        form = posted_form(req)
        self.sessions.check_csrf(req, visitor.csrf)
        deck_id = _number(deck, "the deck")
        card_id = _number(field(form, "card"), "the card")
        rating = _number(field(form, "rating"), "the answer")
        shown = _number(field(form, "shown"), "the time shown")
        if not 1 <= rating <= 4:
            raise falcon.HTTPBadRequest(description="the answer must be 1 to 4")
        try:
            screen = self.study.answer(visitor.user_id, deck_id, card_id, rating, shown)
        except CardChanged:
            self.page.show(req, resp, visitor, deck_id, sync=False, status=409,
                           note="That card was answered already or changed meanwhile; "
                                "here is the card to study now.")
            return
        # The next card at once (no redirect: it would open the collection again). Sent
        # again by a reload, the answer meets the check above and changes nothing.
        self.page.render(resp, visitor, screen)


class UndoAction(StudyResource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, deck: str) -> None:
        visitor = self.sessions.require(req)
        posted_form(req)
        self.sessions.check_csrf(req, visitor.csrf)
        deck_id = _number(deck, "the deck")
        self.study.undo(visitor.user_id)
        raise falcon.HTTPSeeOther(f"{self.pages.base}study/{deck_id}?then=1")


@dataclass(frozen=True)
class CardFrame:
    """`/study/frame/{pass}/card/{id}/{q|a}` and `/study/frame/{pass}/media/{name}`:
    what a card's sandboxed frame loads, on the strength of the signed pass alone."""

    study: Study
    media: MediaServer
    blobs: BlobStore
    base: str

    def _user(self, frame_pass: str) -> UserId:
        user = self.study.frame_user(frame_pass)
        if user is None:
            raise falcon.HTTPNotFound(description="this card's address has expired")
        return user

    def on_get_card(self, req: falcon.Request, resp: falcon.Response, frame_pass: str,
                    card: str, side: str) -> None:
        user = self._user(frame_pass)
        if side not in ("q", "a"):
            raise falcon.HTTPNotFound()
        try:
            rendered = self.study.render(user, _number(card, "the card"), side == "a")
        except NoSuchCard:
            raise falcon.HTTPNotFound(description="there is no such card (any more)") from None
        media = f"{self.base}study/frame/{frame_pass}/media/"

        def sound(match: re.Match[str]) -> str:
            index = int(match.group(2))
            names = rendered.sounds
            if index >= len(names):
                return ""
            source = html.escape(media + quote(names[index], safe=""))
            return f'<audio controls preload="none" src="{source}"></audio>'

        body = _PLAY.sub(sound, rendered.html)
        spoken = "".join(f'<p class="tts">{html.escape(text)}</p>'
                         for text in rendered.texts_to_speak)
        resp.content_type = "text/html; charset=utf-8"
        resp.set_header("Content-Security-Policy", CARD_CSP)
        resp.set_header("X-Frame-Options", "SAMEORIGIN")
        resp.set_header("Referrer-Policy", "no-referrer")
        resp.text = (f'<!doctype html><html><head><meta charset="utf-8">'
                     f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                     f'<base href="{html.escape(media)}"><style>{CARD_BASE_STYLE}</style>'
                     f'</head><body class="card"><div id="qa">{body}{spoken}</div>'
                     f"<script>{CARD_HEIGHT_SCRIPT}</script></body></html>")

    def on_get_media(self, req: falcon.Request, resp: falcon.Response, frame_pass: str,
                     name: str) -> None:
        send_media(resp, self.media, self.blobs, self._user(frame_pass), name)


# The frame cannot be measured from outside its sandbox: the card tells the study page
# its height (study.js sizes the frame within bounds; a card lying about it only gets
# more or less room).
# Measured to the end of the card's content, not the document, which grows with the frame.
CARD_HEIGHT_SCRIPT = ("(function(){var qa=document.getElementById('qa'),last=0;"
                      "function tell(){var b=getComputedStyle(document.body),h=Math.ceil("
                      "qa.getBoundingClientRect().bottom+scrollY+parseFloat(b.paddingBottom)"
                      "+parseFloat(b.marginBottom));"
                      "if(h!==last){last=h;parent.postMessage({cardHeight:h},'*');}}"
                      "new ResizeObserver(tell).observe(qa);addEventListener('load',tell);"
                      "tell();})();")

# What Anki's reviewer gives every card before the note type's own styling.
CARD_BASE_STYLE = ("html{font-size:100%}body{margin:0;padding:1em;"
                   "font-family:system-ui,sans-serif;overflow-wrap:break-word}"
                   "img{max-width:100%;height:auto}audio{display:block;margin:.5em auto}"
                   "#typeans{font-family:ui-monospace,monospace}")
