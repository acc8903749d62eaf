"""Index the invitations pre sign-up bound to a userName: post confirmation reads them by it.

CREATE INDEX CONCURRENTLY (outside a transaction): the triggers keep writing invitations
while it builds (docs/scaling.md, "Deploys that never stop the triggers").
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("invites", "0003_refusal_reason_email_lookalike"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="invitation",
            index=models.Index(
                condition=~models.Q(reserved_for_username=""),
                fields=["reserved_for_username", "-created_at"],
                name="invitation_reserved_for",
            ),
        ),
    ]
