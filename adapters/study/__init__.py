"""Studying in the browser: Anki's own scheduler (the `anki` library) as one more device."""
