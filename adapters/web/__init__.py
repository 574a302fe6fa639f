"""The web app people use in a browser: server-rendered pages (Jinja2), one stylesheet,
no scripts."""
