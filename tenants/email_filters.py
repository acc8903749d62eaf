"""Django's filters that take a size, capped: a staff template cannot make a render huge.

`{{ "x"|ljust:"50000000" }}` built 100 MB during validation (issue 13, item 11). These
replace the built-ins of the same name in the email engine only (tenants.emails._engine
lists this library after Django's), so an argument over MAX_WIDTH is cut to it; validation
also refuses a literal over it, with the reason, so staff learn it on save.
"""

from __future__ import annotations

import re
from typing import Any

from django import template
from django.template import defaultfilters

register = template.Library()

MAX_WIDTH = 200  # padding and widths: a line of an email, never more
MAX_PRECISION = 20  # floatformat digits
MAX_LIST = 200  # make_list items (a loop over them is the amplifier)
_NUMBER = re.compile(r"\d+")


def _width(arg: Any) -> int:
    try:
        return max(0, min(int(arg), MAX_WIDTH))
    except (TypeError, ValueError):
        return 0


@register.filter(is_safe=True)
def ljust(value: Any, arg: Any) -> str:
    return str(value).ljust(_width(arg))


@register.filter(is_safe=True)
def rjust(value: Any, arg: Any) -> str:
    return str(value).rjust(_width(arg))


@register.filter(is_safe=True)
def center(value: Any, arg: Any) -> str:
    return str(value).center(_width(arg))


@register.filter(is_safe=True)
def stringformat(value: Any, arg: Any) -> str:
    # "%50000000s" pads like ljust: refuse any number in the spec above the cap.
    if any(int(n) > MAX_WIDTH for n in _NUMBER.findall(str(arg))):
        return ""
    return str(defaultfilters.stringformat(value, arg))


@register.filter(is_safe=True)
def floatformat(value: Any, arg: Any = -1) -> str:
    try:
        digits = int(str(arg).rstrip("gu") or -1)
    except ValueError:
        return str(defaultfilters.floatformat(value, arg))
    if abs(digits) > MAX_PRECISION:
        return ""
    return str(defaultfilters.floatformat(value, arg))


@register.filter
def make_list(value: Any) -> list[str]:
    return list(str(value))[:MAX_LIST]


# The filters validation checks for a literal size argument over the cap.
SIZED_FILTERS = {"ljust": MAX_WIDTH, "rjust": MAX_WIDTH, "center": MAX_WIDTH, "floatformat": MAX_PRECISION}
