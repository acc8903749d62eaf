"""Expand: memberships beside UserProfile.company/role, which stay and are written alongside.

A release reading memberships ships with this; the old columns go only in a later release,
so the previous release's trigger code keeps answering against this schema while it deploys.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0003_search_trigram_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="company",
            name="active_members",
            field=models.PositiveIntegerField(db_default=0, default=0, editable=False),
        ),
        migrations.AddField(
            model_name="company",
            name="owner",
            field=models.ForeignKey(
                blank=True,
                help_text="The member who owns the company: never removed or demoted by accident; transfer ownership to change it.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="tenants.userprofile",
            ),
        ),
        migrations.AddField(
            model_name="userprofile",
            name="active_company",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="tenants.company",
            ),
        ),
        migrations.CreateModel(
            name="Membership",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("active", "Active"),
                            ("suspended", "Suspended"),
                            ("ended", "Ended (left or removed)"),
                        ],
                        default="active",
                        max_length=16,
                    ),
                ),
                (
                    "route",
                    models.CharField(
                        choices=[
                            ("invitation", "Invitation"),
                            ("domain", "Email domain rule"),
                            ("legacy", "Legacy user import"),
                            ("idp", "Identity provider"),
                            ("staff", "Added by staff"),
                            ("directory", "Directory sync"),
                            ("migrated", "From the single-company schema"),
                        ],
                        max_length=16,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("ended_at", models.DateTimeField(blank=True, null=True)),
                (
                    "company",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="memberships",
                        to="tenants.company",
                    ),
                ),
                (
                    "profile",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="memberships",
                        to="tenants.userprofile",
                    ),
                ),
                (
                    "role",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="memberships",
                        to="tenants.role",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
                "indexes": [
                    models.Index(
                        fields=["company", "status", "-created_at"], name="membership_company_status"
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("profile", "company"), name="membership_unique"),
                    models.CheckConstraint(
                        condition=models.Q(("status__in", ["active", "suspended", "ended"])),
                        name="membership_status_valid",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("ended_at__isnull", True), ("status", "ended"), _connector="OR"),
                        name="membership_ended_at_only_when_ended",
                    ),
                ],
            },
        ),
        # A membership's role is global or its own company's: a CHECK cannot read the role row.
        migrations.RunSQL(
            sql="""
            CREATE FUNCTION tenants_membership_role_company() RETURNS trigger AS $$
            BEGIN
                IF NEW.role_id IS NOT NULL AND EXISTS (
                    SELECT 1 FROM tenants_role r
                    WHERE r.id = NEW.role_id AND r.company_id IS NOT NULL AND r.company_id <> NEW.company_id
                ) THEN
                    RAISE EXCEPTION 'membership role % belongs to another company', NEW.role_id
                        USING ERRCODE = 'check_violation';
                END IF;
                RETURN NEW;
            END $$ LANGUAGE plpgsql;
            CREATE TRIGGER membership_role_company BEFORE INSERT OR UPDATE OF role_id, company_id
                ON tenants_membership FOR EACH ROW EXECUTE FUNCTION tenants_membership_role_company();
        """,
            reverse_sql="""
            DROP TRIGGER IF EXISTS membership_role_company ON tenants_membership;
            DROP FUNCTION IF EXISTS tenants_membership_role_company();
        """,
        ),
    ]
