"""gunicorn's settings exactly as `ankiserv serve` uses them, for running gunicorn
yourself (read from the same ANKISERV_* settings):

    gunicorn -c python:entrypoints.gunicorn_conf 'entrypoints.wsgi:create_app()'

Options given on gunicorn's command line (e.g. `--bind`) take precedence.
"""

from __future__ import annotations

from entrypoints.config import settings_from_environment
from entrypoints.gunicorn_app import gunicorn_options, prepare_metrics

_settings = settings_from_environment()
prepare_metrics(_settings)
globals().update(gunicorn_options(_settings, None))
