"""ASGI entry point, and the Lambda handler that serves the admin through mangum."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

application = get_asgi_application()


def _make_handler():  # type: ignore[no-untyped-def]
    from mangum import Mangum

    # Django does not speak the ASGI lifespan protocol.
    return Mangum(application, lifespan="off")


handler = _make_handler()
