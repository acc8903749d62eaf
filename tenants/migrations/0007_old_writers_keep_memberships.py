"""While UserProfile.company/role exist, a write to them keeps the memberships in step.

During the deploy the previous release's trigger code still runs, and it joins people by
writing profile.company and profile.role. This trigger turns each such write into the
membership the new code reads (created active, its seat counted, made the active company
when there is none), so nothing the old code does is lost or invisible. The new code's own
writes (tenants.memberships mirrors the active membership into those columns) change
nothing here: the membership they describe already exists with that role. Setting the
columns to NULL never ends a membership (old code never did that; new code ends them
through tenants.memberships). Dropped with the columns, in the contract release.
"""

from django.db import migrations

SQL = """
CREATE FUNCTION tenants_profile_company_to_membership() RETURNS trigger AS $$
DECLARE
    added integer;
BEGIN
    IF NEW.company_id IS NULL THEN
        RETURN NEW;
    END IF;
    -- Before the row is written, so a save() from a stale instance cannot clear it either.
    IF NEW.active_company_id IS NULL THEN
        NEW.active_company_id := NEW.company_id;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.company_id IS NOT DISTINCT FROM OLD.company_id
            AND NEW.role_id IS NOT DISTINCT FROM OLD.role_id THEN
        RETURN NEW;
    END IF;
    INSERT INTO tenants_membership (profile_id, company_id, role_id, status, route, created_at, updated_at)
    VALUES (NEW.id, NEW.company_id, NEW.role_id, 'active', 'migrated', now(), now())
    ON CONFLICT (profile_id, company_id) DO NOTHING;
    GET DIAGNOSTICS added = ROW_COUNT;
    IF added > 0 THEN
        UPDATE tenants_company SET active_members = active_members + 1 WHERE id = NEW.company_id;
    ELSE
        UPDATE tenants_membership SET role_id = NEW.role_id, updated_at = now()
        WHERE profile_id = NEW.id AND company_id = NEW.company_id AND status = 'active'
          AND role_id IS DISTINCT FROM NEW.role_id;
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;

-- BEFORE: it sets NEW.active_company_id. The membership row it inserts may precede its profile
-- row: Django's foreign keys are DEFERRABLE INITIALLY DEFERRED, checked at commit.
CREATE TRIGGER profile_company_to_membership BEFORE INSERT OR UPDATE OF company_id, role_id, active_company_id
    ON tenants_userprofile FOR EACH ROW EXECUTE FUNCTION tenants_profile_company_to_membership();
"""

REVERSE = """
DROP TRIGGER IF EXISTS profile_company_to_membership ON tenants_userprofile;
DROP FUNCTION IF EXISTS tenants_profile_company_to_membership();
"""


class Migration(migrations.Migration):
    dependencies = [("tenants", "0006_person_erasure")]

    operations = [migrations.RunSQL(sql=SQL, reverse_sql=REVERSE)]
