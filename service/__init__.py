"""filmrecs web service: films, reviews, tags and related titles over REST, and the film page.

The package itself loads nothing: the jobs import its storage and queue modules without Flask
(docs/ARCHITECTURE.md, "The floors"). gunicorn serves `service:create_app()`.
"""


def create_app(overrides: dict | None = None, settings=None):
    """Build the Flask app from settings (and test overrides); see service/app.py."""
    from service.app import create_app as build

    return build(overrides, settings)
