"""How long a user-migration answer takes per case, unpadded and padded (issue 13 item 9).

Not run by the tests. Run it by hand against a scratch database (it imports, then deletes,
one legacy user per hash format):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gh_bench_legacy \\
      .venv/bin/python manage.py migrate --noinput
    DATABASE_URL=... DJANGO_SETTINGS_MODULE=backoffice.settings .venv/bin/python bench/legacy_timing.py

It prints the median and p95 per case (unknown user, and a wrong password per format)
first without a stored target, then padded to the target the import measured: padded, every
case should sit at or just above the slowest format.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

PASSWORD = "correct horse battery staple"


def hashes() -> dict[str, str]:
    import bcrypt
    from django.contrib.auth.hashers import MD5PasswordHasher, PBKDF2PasswordHasher

    return {
        "unsalted_md5_hex (wrapped)": hashlib.md5(PASSWORD.encode()).hexdigest(),
        "salted_md5": MD5PasswordHasher().encode(PASSWORD, "pepper"),
        "bcrypt": bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(12)).decode(),
        "pbkdf2_sha256": PBKDF2PasswordHasher().encode(PASSWORD, "saltsaltsalt"),
    }


def measure(case: str, username: str, runs: int) -> tuple[str, float, float]:
    from tenants.legacy import LegacyLoginError, legacy_user_authenticate
    from tenants.models import RateLimitCounter

    samples = []
    for _ in range(runs):
        RateLimitCounter.objects.all().delete()  # the attempt limit is not what is measured
        started = time.perf_counter()
        with contextlib.suppress(LegacyLoginError):
            legacy_user_authenticate(username=username, password=PASSWORD + "!")
        samples.append((time.perf_counter() - started) * 1000)
    ordered = sorted(samples)
    return case, statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    import django

    django.setup()
    from tenants.legacy_import import legacy_hash_cost_measure
    from tenants.models import LegacyHashCost, LegacyUser

    LegacyUser.objects.filter(email__startswith="bench-legacy-").delete()
    users = {}
    for index, (label, value) in enumerate(hashes().items()):
        from tenants.legacy_hashes import legacy_hash_convert

        email = f"bench-legacy-{index}@example.com"
        LegacyUser.objects.create(email=email, password_hash=legacy_hash_convert(value, "").encoded)
        users[label] = email
    cases = [("unknown user", "bench-legacy-nobody@example.com")] + [
        (f"wrong password, {label}", email) for label, email in users.items()
    ]
    try:
        for title, stored in (("unpadded", False), ("padded", True)):
            LegacyHashCost.objects.all().delete()
            if stored:
                cost = legacy_hash_cost_measure()
                title += f" (target {cost.seconds * 1000:.1f} ms, {cost.slowest_format})"
            print(f"\n{title}\n{'case':<40} {'median ms':>10} {'p95 ms':>10}")
            for case, username in cases:
                name, median, p95 = measure(case, username, args.runs)
                print(f"{name:<40} {median:>10.1f} {p95:>10.1f}")
    finally:
        LegacyUser.objects.filter(email__startswith="bench-legacy-").delete()
        LegacyHashCost.objects.all().delete()


if __name__ == "__main__":
    main()
