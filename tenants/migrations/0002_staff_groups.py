"""The Support and Administrators staff groups (see tenants/staff.py)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def forward(apps, schema_editor):
    from tenants.staff import staff_groups_sync

    # Model permissions are normally made after migrate (post_migrate): make them now,
    # so the groups get them on a fresh database too.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    staff_groups_sync(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0001_initial"),
        ("invites", "0001_initial"),
        ("outbox", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
