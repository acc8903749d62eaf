"""ASGI entry point, and the Lambda handler that serves the admin through mangum."""

import os
from typing import TYPE_CHECKING

from django.core.asgi import get_asgi_application

if TYPE_CHECKING:
    from mangum import Mangum

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

application = get_asgi_application()


def _make_handler() -> "Mangum":
    from mangum import Mangum

    # Django does not speak the ASGI lifespan protocol.
    # django-stubs types ASGIHandler.__call__ with dict/Mapping, mangum's ASGI protocol with MutableMapping.
    return Mangum(application, lifespan="off")  # type: ignore[arg-type]


handler = _make_handler()
