"""Staff-written employee-ID patterns: refused on save when RE2 cannot run them (issue 13, item 10)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from invites.models import SignupPolicy

pytestmark = pytest.mark.django_db


def test_a_pattern_that_needs_backtracking_is_refused_on_save_with_the_reason(admin_client):
    answer = admin_client.post(
        "/admin/invites/signuppolicy/add/",
        {"employee_id_pattern": r"(E\d)\1", "signups_per_ip_per_hour": "20", "invitation_required": "on"},
    )

    assert answer.status_code == 200
    errors = answer.context["adminform"].form.errors["employee_id_pattern"]
    assert errors[0].startswith(
        "This pattern needs backtracking (a backreference or a lookaround), which could make every "
        "sign-up wait; write it without ("
    )
    assert SignupPolicy.objects.count() == 0


@pytest.mark.parametrize("pattern", [r"E\d{4}", "([A-Z0-9]+)+-[0-9]{4}"])
def test_a_pattern_re2_runs_in_linear_time_is_accepted(pattern):
    SignupPolicy(pk=1, employee_id_pattern=pattern).full_clean()


def test_an_invalid_pattern_is_refused():
    with pytest.raises(ValidationError) as caught:
        SignupPolicy(pk=1, employee_id_pattern="E(\\d").full_clean()
    assert caught.value.message_dict["employee_id_pattern"][0].startswith("Not a valid regular expression:")
