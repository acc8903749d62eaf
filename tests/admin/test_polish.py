"""Small things a newcomer notices in the first minutes (issue 17)."""

from __future__ import annotations

import logging

import pytest
from django.templatetags.static import static

pytestmark = pytest.mark.django_db


def test_favicon_is_served_instead_of_a_404(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"] == static("gatehouse/favicon.svg")
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert b"<svg" in b"".join(icon.streaming_content)


def test_admin_pages_link_the_icon(admin_client):
    body = admin_client.get("/admin/").content.decode()

    assert f'<link rel="icon" type="image/svg+xml" href="{static("gatehouse/favicon.svg")}">' in body


def test_django_log_lines_are_printed_once_as_json():
    # Django's own default config adds a plain console handler to "django" under DEBUG; the
    # root's JSON handler printed each line a second time.
    assert logging.getLogger("django").handlers == []
    assert logging.getLogger("django").propagate is True
    assert "JsonFormatter" in [type(h.formatter).__name__ for h in logging.getLogger().handlers]


def _dry_run(admin_client, acme, rows: str, on_bad_rows: str) -> str:
    from django.urls import reverse

    response = admin_client.post(
        reverse("admin:invites_invitation_bulk"),
        {"company": acme.pk, "rows": rows, "on_bad_rows": on_bad_rows, "_preview": "1"},
    )
    assert response.status_code == 200
    return response.content.decode()


def test_the_dry_run_reports_empty_lines_it_skipped(admin_client, acme, roles):
    body = _dry_run(admin_client, acme, "a@acme.com,USER\n\nb@acme.com,USER\n ,\nc@acme.com,USER\n\n", "good")

    assert "Skipped 2 empty lines: lines 2, 4." in body


def test_the_dry_run_without_empty_lines_says_nothing_of_them(admin_client, acme, roles):
    body = _dry_run(admin_client, acme, "a@acme.com,USER\nb@acme.com,USER\n", "good")

    assert 'id="gh-empty-lines"' not in body


def test_create_is_disabled_when_create_nothing_meets_bad_rows(admin_client, acme, roles):
    body = _dry_run(admin_client, acme, "ok@acme.com,USER\nbad,USER", "none")

    assert 'value="Create the 1 good invitation" disabled>' in body
    assert 'id="gh-create-blocked"' in body


def test_create_is_enabled_for_the_good_rows_when_asked_for(admin_client, acme, roles):
    body = _dry_run(admin_client, acme, "ok@acme.com,USER\nbad,USER", "good")

    assert 'value="Create the 1 good invitation">' in body
    assert 'id="gh-create-blocked"' not in body


def test_the_activity_chart_has_a_count_axis_dates_and_numbers():
    from datetime import date, timedelta

    from staff.dashboard import CHART_WIDTH, PLOT_LEFT, activity_chart

    start = date(2026, 11, 2)
    days = [(start + timedelta(days=i), 0, 0) for i in range(29)] + [(start + timedelta(days=29), 3, 1)]

    chart = activity_chart(days)

    assert [t.label for t in chart.y_ticks] == ["0", "2", "4"]
    assert [t.label for t in chart.x_ticks] == ["Nov 2", "Nov 9", "Nov 16", "Nov 23", "Dec 1"]
    assert [(b.css, b.value) for b in chart.bars if b.value] == [("gh-bar-signup", 3), ("gh-bar-signin", 1)]
    # The bars start right of the axis labels and end inside the chart.
    assert min(b.x for b in chart.bars) == PLOT_LEFT
    assert max(b.x + b.width for b in chart.bars) <= CHART_WIDTH


def test_the_dashboard_draws_the_axis_labels(admin_client):
    body = admin_client.get("/admin/dashboard/").content.decode()

    assert body.count('class="gh-tick gh-tick-y"') == 3
    assert body.count('class="gh-tick gh-tick-x ') == 5


def _change_data(response) -> dict:
    """What the change form would post as rendered: its fields' values and every inline's management form."""
    form = response.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        if name in form.initial or field.initial is not None:
            value = form.initial.get(name, field.initial)
            if isinstance(value, bool):
                if value:
                    data[name] = "on"
            elif value is not None:
                data[name] = getattr(value, "pk", value)
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[f"{management.prefix}-{name}"] = management.initial.get(name, "")
        for row in inline.formset.forms:
            for name in row.fields:
                value = row.instance.pk if name == "id" else row.initial.get(name)
                if value is not None and not isinstance(value, bool):
                    data[f"{row.prefix}-{name}"] = getattr(value, "pk", value)
    return data


def test_preferences_are_fields_and_keep_keys_the_admin_does_not_show(admin_client, member):
    from django.urls import reverse

    member.preferences = {**member.preferences, "app_layout": "compact"}
    member.save()
    url = reverse("admin:tenants_userprofile_change", args=[member.pk])
    page = admin_client.get(url)
    body = page.content.decode()
    assert 'name="preferences"' not in body
    assert 'name="pref_timezone"' in body
    data = _change_data(page)
    data.update(pref_theme="dark", pref_language="pt-BR", pref_timezone="Europe/Berlin")
    data.pop("pref_product_updates", None)

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    member.refresh_from_db()
    assert member.preferences == {
        "notifications": {"email": True, "product_updates": False},
        "theme": "dark",
        "language": "pt-BR",
        "timezone": "Europe/Berlin",
        "app_layout": "compact",
    }


def test_preferences_refuse_an_unknown_time_zone_and_a_bad_language(admin_client, member):
    from django.urls import reverse

    url = reverse("admin:tenants_userprofile_change", args=[member.pk])
    data = _change_data(admin_client.get(url))
    data.update(pref_language="English!", pref_timezone="Mars/Olympus")

    response = admin_client.post(url, data)

    errors = response.context["adminform"].form.errors
    assert errors["pref_language"] == ["Give a language tag such as en, de or pt-BR."]
    assert "pref_timezone" in errors
    member.refresh_from_db()
    assert member.preferences["timezone"] == "UTC"


def test_the_template_form_names_the_required_placeholders_before_a_save(admin_client):
    from django.urls import reverse

    body = admin_client.get(reverse("admin:tenants_emailtemplate_add")).content.decode()

    assert "Must contain, in the HTML and text bodies: Login code (passwordless): {{ code }};" in body
    assert "{{ code }}, {{ username }}" in body


def test_the_top_bar_says_people_for_user_profiles_not_users(admin_client):
    from django.urls import reverse

    body = admin_client.get(reverse("admin:index")).content.decode()

    assert f'<a href="{reverse("admin:tenants_userprofile_changelist")}">People</a>' in body
