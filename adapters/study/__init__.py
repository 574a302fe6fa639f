"""Studying in the browser: Anki's own scheduler (the `anki` library) as one more device."""

STUDY_DEVICE = "Study in the browser"  # its name in the account's list of devices
