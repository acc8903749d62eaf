"""Staff roles in the admin: "Support" and "Administrators", as Django groups.

Support staff look after people: invitations (create, send, resend, revoke, extend,
export), user profiles (suspend, reactivate, move to another role), and they can see
companies, refused sign-ups and waiting side effects. Administrators can do all of that
and change what shapes every sign-in: email templates, feature flags, roles, the sign-up
policy, app clients, companies, and the try-a-trigger page. Superusers manage staff
accounts themselves (django.contrib.auth), which neither group can.

The groups are created by a data migration and brought up to date by
`manage.py sync_staff_groups` (run it after adding models; it is idempotent).
"""

from __future__ import annotations

from typing import Any

SUPPORT = "Support"
ADMINISTRATORS = "Administrators"

# Not tied to a model: the custom pages check these with user.has_perm("tenants.<codename>").
CUSTOM_PERMISSIONS = {
    "use_trigger_console": "Can run triggers on the try-a-trigger page",
}

SUPPORT_PERMISSIONS = [
    "invites.view_invitation",
    "invites.add_invitation",
    "invites.change_invitation",
    "invites.view_signuprefusal",
    "tenants.view_userprofile",
    "tenants.change_userprofile",
    "tenants.view_membership",
    "tenants.add_membership",
    "tenants.change_membership",
    "tenants.view_company",
    "tenants.view_companydomain",
    "tenants.view_workspace",
    "tenants.view_activityevent",
    "tenants.view_knowndevice",
    "outbox.view_sideeffect",
]

# Every permission of these apps, plus the custom ones.
ADMINISTRATOR_APPS = ("tenants", "invites", "outbox")


def staff_groups_sync(apps: Any = None) -> dict[str, int]:
    """Create or update both groups with exactly their permissions; returns name -> count.

    `apps` is the migration state's registry inside a data migration, the live one otherwise.
    """
    if apps is None:
        from django.apps import apps as live_apps

        apps = live_apps
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    content_type_model = apps.get_model("contenttypes", "ContentType")

    profile_type, _ = content_type_model.objects.get_or_create(app_label="tenants", model="userprofile")
    custom = []
    for codename, name in CUSTOM_PERMISSIONS.items():
        permission, _ = permission_model.objects.get_or_create(
            content_type=profile_type, codename=codename, defaults={"name": name}
        )
        custom.append(permission)

    def lookup(dotted: list[str]) -> list[Any]:
        found = []
        for item in dotted:
            app_label, codename = item.split(".", 1)
            found.extend(
                permission_model.objects.filter(content_type__app_label=app_label, codename=codename)
            )
        return found

    wanted = {
        SUPPORT: lookup(SUPPORT_PERMISSIONS),
        ADMINISTRATORS: [
            *permission_model.objects.filter(content_type__app_label__in=ADMINISTRATOR_APPS).exclude(
                codename__in=CUSTOM_PERMISSIONS
            ),
            *custom,
        ],
    }
    counts = {}
    for name, permissions in wanted.items():
        group, _ = group_model.objects.get_or_create(name=name)
        group.permissions.set(permissions)
        counts[name] = len(permissions)
    return counts
