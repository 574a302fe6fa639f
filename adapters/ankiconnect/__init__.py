"""AnkiConnect's JSON protocol (version 6) as an edge over the collection API, so tools
written for the AnkiConnect add-on (Yomitan, Obsidian plugins, ...) can add and read
cards on the server. It owns no collection rules: every read and write goes through
`CollectionApi`, `MediaServer` and the blob store, like the JSON API and devices."""

from adapters.ankiconnect.resource import AnkiConnectResource

__all__ = ["AnkiConnectResource"]
