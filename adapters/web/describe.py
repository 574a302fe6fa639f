"""Words for people: which program a key was used by, and how long ago something was."""

from __future__ import annotations

_APPS = {"ankidroid": "AnkiDroid", "ankimobile": "AnkiMobile", "ankidesktop": "Anki",
         "anki": "Anki"}
_PLATFORMS = {"lin": "Linux", "linux": "Linux", "win": "Windows", "windows": "Windows",
              "mac": "macOS", "macos": "macOS", "android": "Android", "ios": "iOS"}


def sync_client(version: str) -> str:
    """An Anki client's version string as people know it: `26.09.3,29bb700b,linux` ->
    `Anki 26.09.3 on Linux`, `ankidroid,2.16.5,…` -> `AnkiDroid 2.16.5`."""
    parts = [p.strip() for p in version.split(",") if p.strip()]
    if not parts:
        return "Anki client"
    if parts[0][:1].isdigit():  # the desktop app: release, build hash, platform
        app, release, platform = "Anki", parts[0], parts[2] if len(parts) > 2 else ""
    else:
        app = _APPS.get(parts[0].lower(), parts[0][:30])
        release = parts[1] if len(parts) > 1 else ""
        platform = parts[2] if len(parts) > 2 else ""
    name = f"{app} {release.split(' ')[0][:20]}".strip()
    system = _PLATFORMS.get(platform.split(":")[0].lower())
    return f"{name} on {system}" if system and app == "Anki" else name


_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
             ("Chrome/", "Chrome"), ("Chromium/", "Chromium"), ("Safari/", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"),
            ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"),
            ("Linux", "Linux"))


def browser(user_agent: str) -> str:
    """`Chrome on Linux` from a User-Agent header; `A browser` when it says nothing known."""
    name = next((n for marker, n in _BROWSERS if marker in user_agent), "")
    system = next((s for marker, s in _SYSTEMS if marker in user_agent), "")
    if name and system:
        return f"{name} on {system}"
    return name or (f"A browser on {system}" if system else "A browser")


def ago(then_ms: int, now_ms: int) -> str:
    """How long ago, in the largest whole unit: `just now`, `5 minutes ago`, `3 days ago`."""
    seconds = max(0, (now_ms - then_ms) // 1000)
    for size, unit in ((86400 * 365, "year"), (86400 * 30, "month"), (86400, "day"),
                       (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"
