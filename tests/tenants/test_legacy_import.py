"""Legacy user import: the CSV service, the management command and the admin page."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

import argon2
import bcrypt
import pytest
from django.contrib.auth.hashers import BCryptSHA256PasswordHasher, MD5PasswordHasher, PBKDF2PasswordHasher
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from tenants.legacy_hashes import legacy_password_check
from tenants.legacy_import import legacy_users_import
from tenants.models import LegacyUser
from tests.tenants.legacy_csv import legacy_users_csv

pytestmark = pytest.mark.django_db

PASSWORD = "hunter2-but-longer"


@cache
def hashes() -> dict[str, str]:
    return {
        "pbkdf2": PBKDF2PasswordHasher().encode(PASSWORD, "saltsaltsalt", iterations=1000),
        "bcrypt_sha256": BCryptSHA256PasswordHasher().encode(PASSWORD, bcrypt.gensalt(4)),
        "raw_bcrypt": bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode(),
        "raw_argon2": argon2.PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD),
        "salted_md5": MD5PasswordHasher().encode(PASSWORD, "pepper"),
        "md5": hashlib.md5(PASSWORD.encode()).hexdigest(),  # noqa: S324 (a legacy format)
        "sha1": hashlib.sha1(PASSWORD.encode()).hexdigest(),  # noqa: S324
        "django_unsalted_md5": "md5$$" + hashlib.md5(PASSWORD.encode()).hexdigest(),  # noqa: S324
    }


def row(email: str, password_hash: str | None = None, **fields: str) -> dict[str, str]:
    return {
        "email": email,
        "given_name": "Ada",
        "family_name": "Lovelace",
        "password_hash": hashes()["pbkdf2"] if password_hash is None else password_hash,
        **fields,
    }


def outcomes(report: Any) -> list[tuple[int, str, tuple[str, ...]]]:
    return [(r.line, r.outcome, r.reasons) for r in report.rows]


@pytest.mark.parametrize(
    ("fmt", "algorithm", "detected"),
    [
        ("pbkdf2", "pbkdf2_sha256", "django"),
        ("bcrypt_sha256", "bcrypt_sha256", "django"),
        ("raw_bcrypt", "bcrypt", "bcrypt"),
        ("raw_argon2", "argon2", "argon2"),
        ("salted_md5", "md5", "django"),
        ("md5", "pbkdf2_wrapped_md5", "md5"),
        ("sha1", "pbkdf2_wrapped_sha1", "sha1"),
        ("django_unsalted_md5", "pbkdf2_wrapped_md5", "md5"),
    ],
)
def test_each_hash_format_is_stored_in_djangos_format(fmt: str, algorithm: str, detected: str) -> None:
    report = legacy_users_import(text=legacy_users_csv([row("ada@example.com", hashes()[fmt])]))

    assert outcomes(report) == [(2, "create", ())]
    assert report.rows[0].hash_format == detected
    legacy = LegacyUser.objects.get()
    assert legacy.hash_algorithm == algorithm
    assert legacy_password_check(PASSWORD, legacy.password_hash) is True
    assert legacy_password_check(PASSWORD + "x", legacy.password_hash) is False


@pytest.mark.parametrize("fmt", ["md5", "sha1"])
def test_weak_digests_are_not_stored(fmt: str) -> None:
    legacy_users_import(text=legacy_users_csv([row("ada@example.com", hashes()[fmt])]))

    assert hashes()[fmt] not in LegacyUser.objects.get().password_hash


def test_the_hash_format_column_is_checked() -> None:
    text = legacy_users_csv(
        [
            row("a@example.com", hashes()["md5"], hash_format="md5"),
            row("b@example.com", hashes()["md5"], hash_format="bcrypt"),
            row("c@example.com", hashes()["md5"], hash_format="rot13"),
        ]
    )

    report = legacy_users_import(text=text)

    assert outcomes(report) == [
        (2, "create", ()),
        (3, "error", ("not a bcrypt hash ($2a$, $2b$ or $2y$, cost and 53 characters)",)),
        (4, "error", ("unknown hash format 'rot13' (use one of django, bcrypt, argon2, md5, sha1)",)),
    ]


def test_every_bad_row_is_reported_with_its_line_and_the_good_rows_are_written(acme: Any, roles: Any) -> None:
    text = legacy_users_csv(
        [
            row("good@example.com", company="acme", role="admin"),
            row("not-an-email"),
            row("nocompany@example.com", company="globex"),
            row("norole@example.com", company="acme", role="OWNER"),
            row("rolenocompany@example.com", role="USER"),
            row("badhash@example.com", "sha256$abc"),
            row("GOOD@example.com"),
            row("long@example.com", given_name="x" * 101),
            row("empty@example.com", ""),
        ]
    )
    text += "extra@example.com,A,B,hash,acme,USER,,one-too-many\n"

    report = legacy_users_import(text=text)

    assert outcomes(report) == [
        (2, "create", ()),
        (3, "error", ("email is not a valid address",)),
        (4, "error", ("no company with slug 'globex'",)),
        (5, "error", ("no role 'OWNER' for company 'acme'",)),
        (6, "error", ("a role needs a company",)),
        (7, "error", ("unsupported algorithm 'sha256'",)),
        (8, "error", ("email already on line 2",)),
        (9, "error", ("given_name is longer than 100 characters",)),
        (10, "error", ("the password hash is empty",)),
        (11, "error", ("more fields than columns",)),
    ]
    assert report.written is True
    legacy = LegacyUser.objects.get()
    assert (legacy.email, legacy.company, legacy.role) == ("good@example.com", acme, roles["ADMIN"])
    assert report.summary() == "Imported: 1 create, 0 update, 0 unchanged, 0 skipped, 9 error."


def test_all_or_nothing_writes_nothing_when_a_row_is_bad() -> None:
    text = legacy_users_csv([row("good@example.com"), row("bad")])

    report = legacy_users_import(text=text, all_or_nothing=True)

    assert outcomes(report) == [(2, "create", ()), (3, "error", ("email is not a valid address",))]
    assert report.written is False
    assert LegacyUser.objects.count() == 0
    assert report.summary() == "Nothing saved: 1 create, 0 update, 0 unchanged, 0 skipped, 1 error."


def test_a_dry_run_writes_nothing() -> None:
    report = legacy_users_import(
        text=legacy_users_csv([row("a@example.com"), row("b@example.com")]), dry_run=True
    )

    assert outcomes(report) == [(2, "create", ()), (3, "create", ())]
    assert report.written is False
    assert LegacyUser.objects.count() == 0


def test_a_missing_column_refuses_the_file() -> None:
    report = legacy_users_import(text="email,given_name\nada@example.com,Ada\n")

    assert report.file_errors == (
        "missing column(s): family_name, password_hash, company, role "
        "(header: email, given_name, family_name, password_hash, company, role)",
    )
    assert report.rows == ()
    assert LegacyUser.objects.count() == 0


def test_a_spreadsheets_byte_order_mark_and_blank_lines_are_fine() -> None:
    text = "\ufeff" + legacy_users_csv([row("ada@example.com")]) + "\n,,,,,\n"

    report = legacy_users_import(text=text)

    assert outcomes(report) == [(2, "create", ())]


def test_reimporting_the_same_file_changes_nothing() -> None:
    text = legacy_users_csv(
        [row("a@example.com", hashes()["md5"]), row("b@example.com", hashes()["raw_bcrypt"])]
    )
    legacy_users_import(text=text)
    before = list(LegacyUser.objects.order_by("email").values_list("email", "password_hash"))

    report = legacy_users_import(text=text)

    assert outcomes(report) == [(2, "unchanged", ()), (3, "unchanged", ())]
    assert report.written is False
    assert list(LegacyUser.objects.order_by("email").values_list("email", "password_hash")) == before


def test_reimporting_updates_changed_rows_but_not_migrated_users() -> None:
    legacy_users_import(text=legacy_users_csv([row("a@example.com"), row("b@example.com")]))
    LegacyUser.objects.filter(email="b@example.com").update(migrated_at=timezone.now())

    report = legacy_users_import(
        text=legacy_users_csv(
            [
                row("A@example.com", hashes()["sha1"], given_name="Augusta"),
                row("b@example.com", given_name="X"),
            ]
        )
    )

    assert outcomes(report) == [(2, "update", ()), (3, "skipped", ())]
    a = LegacyUser.objects.get(email="a@example.com")
    assert a.given_name == "Augusta"
    assert a.hash_algorithm == "pbkdf2_wrapped_sha1"
    assert LegacyUser.objects.get(email="b@example.com").given_name == "Ada"


# --- The management command ------------------------------------------------------------------


def _file(tmp_path: Path, rows: list[dict[str, str]]) -> str:
    path = tmp_path / "users.csv"
    path.write_text(legacy_users_csv(rows), encoding="utf-8")
    return str(path)


def test_the_command_imports_a_file(tmp_path: Path, capsys: Any) -> None:
    call_command("import_legacy_users", _file(tmp_path, [row("a@example.com"), row("b@example.com")]))

    assert capsys.readouterr().out == "Imported: 2 create, 0 update, 0 unchanged, 0 skipped, 0 error.\n"
    assert LegacyUser.objects.count() == 2


def test_the_command_dry_run(tmp_path: Path, capsys: Any) -> None:
    call_command("import_legacy_users", _file(tmp_path, [row("a@example.com")]), "--dry-run")

    assert (
        capsys.readouterr().out
        == "Dry run, nothing saved: 1 create, 0 update, 0 unchanged, 0 skipped, 0 error.\n"
    )
    assert LegacyUser.objects.count() == 0


def test_the_command_lists_bad_rows_and_fails(tmp_path: Path, capsys: Any) -> None:
    path = _file(tmp_path, [row("a@example.com"), row("broken")])

    with pytest.raises(CommandError) as failed:
        call_command("import_legacy_users", path)

    assert capsys.readouterr().err == "line 3: ***: email is not a valid address\n"
    assert str(failed.value) == (
        "Imported: 1 create, 0 update, 0 unchanged, 0 skipped, 1 error. Fix the 1 bad row(s) above."
    )
    assert LegacyUser.objects.count() == 1


def test_the_command_all_or_nothing(tmp_path: Path) -> None:
    path = _file(tmp_path, [row("a@example.com"), row("broken")])

    with pytest.raises(CommandError, match="Nothing saved"):
        call_command("import_legacy_users", path, "--all-or-nothing")

    assert LegacyUser.objects.count() == 0


def test_the_command_refuses_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_legacy_users", str(tmp_path / "missing.csv"))


# --- The admin page ---------------------------------------------------------------------------


def _upload(client: Any, rows: list[dict[str, str]], **data: Any) -> Any:
    upload = SimpleUploadedFile("users.csv", legacy_users_csv(rows).encode(), content_type="text/csv")
    return client.post(reverse("admin:tenants_legacyuser_import"), {"file": upload, **data})


def test_the_changelist_links_to_the_import(admin_client: Any) -> None:
    response = admin_client.get(reverse("admin:tenants_legacyuser_changelist"))

    assert reverse("admin:tenants_legacyuser_import") in response.content.decode()


def test_the_admin_previews_then_imports(admin_client: Any) -> None:
    preview = _upload(admin_client, [row("a@example.com"), row("broken")])

    assert preview.status_code == 200
    report = preview.context["report"]
    assert outcomes(report) == [(2, "create", ()), (3, "error", ("email is not a valid address",))]
    page = preview.content.decode()
    assert "email is not a valid address" in page
    assert hashes()["pbkdf2"] not in page  # hashes stay on the server
    assert LegacyUser.objects.count() == 0

    done = admin_client.post(
        reverse("admin:tenants_legacyuser_import"), {"confirm": "1", "token": preview.context["token"]}
    )

    # A bad row was left out: the page shows the final report instead of redirecting.
    assert done.status_code == 200
    assert outcomes(done.context["report"])[0] == (2, "create", ())
    assert list(LegacyUser.objects.values_list("email", flat=True)) == ["a@example.com"]
    assert "legacy_user_import" not in admin_client.session


def test_a_clean_import_redirects_to_the_list(admin_client: Any) -> None:
    preview = _upload(admin_client, [row("a@example.com")])

    done = admin_client.post(
        reverse("admin:tenants_legacyuser_import"), {"confirm": "1", "token": preview.context["token"]}
    )

    assert done.status_code == 302
    assert done["Location"] == reverse("admin:tenants_legacyuser_changelist")
    assert LegacyUser.objects.count() == 1


def test_all_or_nothing_in_the_admin_offers_no_import(admin_client: Any) -> None:
    preview = _upload(admin_client, [row("a@example.com"), row("broken")], all_or_nothing="on")

    assert preview.context["would_write"] is False
    assert 'name="confirm"' not in preview.content.decode()


def test_a_confirm_without_its_preview_is_refused(admin_client: Any) -> None:
    _upload(admin_client, [row("a@example.com")])

    response = admin_client.post(
        reverse("admin:tenants_legacyuser_import"), {"confirm": "1", "token": "forged"}
    )

    assert response.status_code == 302
    assert LegacyUser.objects.count() == 0


def test_staff_without_permission_cannot_import(django_user_model: Any, client: Any) -> None:
    from tests.otp import force_login_verified

    staff = django_user_model.objects.create_user("viewer", "viewer@example.com", "pw", is_staff=True)
    force_login_verified(client, staff)

    response = client.get(reverse("admin:tenants_legacyuser_import"))

    assert response.status_code == 403
