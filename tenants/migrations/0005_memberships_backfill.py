"""Backfill: every profile with a company gets its membership, active company and seat count.

Set-based (three statements), so it runs in seconds on hundreds of thousands of profiles.
Idempotent: a profile that already has its membership (written by new code while an old
release was still running) is left alone.
"""

from django.db import migrations

FORWARD = """
    INSERT INTO tenants_membership (profile_id, company_id, role_id, status, route, created_at, updated_at)
    SELECT p.id, p.company_id, p.role_id, 'active', 'migrated', p.created_at, now()
    FROM tenants_userprofile p
    WHERE p.company_id IS NOT NULL
    ON CONFLICT (profile_id, company_id) DO NOTHING;

    UPDATE tenants_userprofile SET active_company_id = company_id
    WHERE company_id IS NOT NULL AND active_company_id IS NULL;

    UPDATE tenants_company c SET active_members = counted.n
    FROM (
        SELECT company_id, count(*) AS n FROM tenants_membership WHERE status = 'active' GROUP BY company_id
    ) counted
    WHERE counted.company_id = c.id;
"""


class Migration(migrations.Migration):
    dependencies = [("tenants", "0004_memberships")]

    operations = [migrations.RunSQL(sql=FORWARD, reverse_sql=migrations.RunSQL.noop)]
