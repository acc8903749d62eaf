"""A side effect names its person as `subject` ("profile:<id>") instead of a foreign key.

The outbox is infrastructure and must not depend on the tenants app; the reference keeps
what the foreign key gave staff (a link, a search) and what erasure needs (find a person's
rows, indexed). Existing rows keep their person: the backfill copies profile_id across
before the column goes.
"""

from django.db import migrations, models


def profile_to_subject(apps, schema_editor):
    SideEffect = apps.get_model("outbox", "SideEffect")
    # One set-based UPDATE: the table can hold millions of finished rows.
    SideEffect.objects.filter(profile__isnull=False).update(
        subject=models.functions.Concat(
            models.Value("profile:"), models.functions.Cast("profile_id", models.CharField())
        )
    )


def subject_to_profile(apps, schema_editor):
    SideEffect = apps.get_model("outbox", "SideEffect")
    for pk, subject in SideEffect.objects.filter(subject__startswith="profile:").values_list("pk", "subject"):
        SideEffect.objects.filter(pk=pk).update(profile_id=int(subject.removeprefix("profile:")))


class Migration(migrations.Migration):
    dependencies = [
        ("outbox", "0001_initial"),
        ("tenants", "0003_search_trigram_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="sideeffect",
            name="subject",
            field=models.CharField(blank=True, db_index=True, default="", max_length=64),
        ),
        migrations.RunPython(profile_to_subject, subject_to_profile),
        migrations.RemoveField(model_name="sideeffect", name="profile"),
    ]
