"""Email bodies written before sealing: seal the ones still waiting, drop the rest."""

from django.db import migrations

BODY = ("subject", "html", "text")


def seal_or_drop_plain_bodies(apps, schema_editor):
    from outbox.crypto import SEALED, seal

    SideEffect = apps.get_model("outbox", "SideEffect")
    for effect in SideEffect.objects.filter(kind="send_email", payload__has_key="html").iterator():
        payload = dict(effect.payload)
        content = {field: payload.pop(field, "") for field in BODY}
        if effect.status == "pending":
            payload[SEALED] = seal(content)
        else:
            payload["body"] = "dropped: sent" if effect.status == "done" else "dropped: failed"
        effect.payload = payload
        effect.save(update_fields=["payload"])


class Migration(migrations.Migration):
    dependencies = [("outbox", "0003_side_effect_in_flight_and_expiry")]

    operations = [migrations.RunPython(seal_or_drop_plain_bodies, migrations.RunPython.noop)]
