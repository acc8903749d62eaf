"""The Django admin, registered from the modules beside this one (admin.autodiscover imports this)."""

from staff import (  # noqa: F401 - each module registers its ModelAdmins on import
    invitations,
    legacy,
    memberships,
    outbox,
    tenants_admin,
)
