"""Email templates: resolve the most specific template, validate it, render it safely.

Templates use Django template syntax with autoescaping, rendered by a sandboxed
engine: no template loaders (no include/extends), no tag libraries, and a short
allowlist of tags and filters so that staff cannot turn escaping off or dump
the context. The context holds only plain strings and dicts, never models, so a
template cannot call methods or reach settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template import Context, Engine, TemplateSyntaxError
from django.template.base import Lexer, TokenType

from tenants.email_filters import SIZED_FILTERS

# Cognito's placeholders (AWS docs, custom message trigger): the code and, for
# AdminCreateUser invitations, the username. Templates write {{ code }} and
# {{ username }}; we pass these literal placeholders in as values.
CODE_PLACEHOLDER = "{####}"
USERNAME_PLACEHOLDER = "{username}"

EMAIL_MAX_CHARS = 20_000
SMS_MAX_CHARS = 140
SUBJECT_MAX_CHARS = 200

ALLOWED_TAGS = frozenset(
    {
        "if",
        "elif",
        "else",
        "endif",
        "for",
        "empty",
        "endfor",
        "with",
        "endwith",
        "firstof",
        "spaceless",
        "endspaceless",
        "comment",
        "endcomment",
        "now",
        "cycle",
        "filter",
        "endfilter",
    }
)
# safe/safeseq would print user input unescaped; pprint exposes reprs.
FORBIDDEN_FILTERS = frozenset({"safe", "safeseq", "pprint", "force_escape_off"})

DEFAULTS_DIR = Path(settings.BASE_DIR) / "templates" / "emails"

# Keys of the Cognito custom messages and the placeholders each must keep.
COGNITO_KEYS = {
    "cm_sign_up": (CODE_PLACEHOLDER,),
    "cm_resend_code": (CODE_PLACEHOLDER,),
    "cm_forgot_password": (CODE_PLACEHOLDER,),
    "cm_update_user_attribute": (CODE_PLACEHOLDER,),
    "cm_verify_user_attribute": (CODE_PLACEHOLDER,),
    "cm_admin_create_user": (CODE_PLACEHOLDER, USERNAME_PLACEHOLDER),
    "cm_authentication": (CODE_PLACEHOLDER,),
}


class TemplateProblem(ValidationError):
    """A template that cannot be used; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class TemplateSource:
    key: str
    language: str
    subject: str
    html_body: str
    text_body: str
    sms_body: str
    origin: str  # "company", "language" or "default", for staff and logs


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    html_body: str
    text_body: str
    sms_body: str
    origin: str


@cache
def _engine() -> Engine:
    return Engine(
        dirs=[],
        app_dirs=False,
        loaders=[],
        libraries={},
        # After Django's built-ins, so its size-capped filters replace theirs (issue 13, item 11).
        builtins=["tenants.email_filters"],
        autoescape=True,
        string_if_invalid="",
        debug=False,
    )


def _check_tokens(source: str, field: str) -> None:
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.BLOCK:
            name = token.contents.split()[0] if token.contents.split() else ""
            if name not in ALLOWED_TAGS:
                raise TemplateProblem({field: f"The tag {{% {name} %}} is not allowed in emails."})
        if token.token_type in (TokenType.VAR, TokenType.BLOCK):
            # Block tags take filters too: {% with x=name|safe %}{{ x }} would print unescaped.
            for part in token.contents.split("|")[1:]:
                filter_name = re.match(r"\s*(\w*)", part).group(1)  # type: ignore[union-attr]
                if filter_name in FORBIDDEN_FILTERS:
                    raise TemplateProblem(
                        {field: f"The filter |{filter_name} is not allowed: it would skip escaping."}
                    )
                _check_size(part, filter_name, field)


def _check_size(part: str, filter_name: str, field: str) -> None:
    """Refuse a literal size over the cap (|ljust:"50000000"), so staff see it on save."""
    cap = SIZED_FILTERS.get(filter_name)
    argument = re.match(r"\s*\w+\s*:\s*[\"']?(-?\d+)", part)
    if cap is not None and argument is not None and abs(int(argument.group(1))) > cap:
        raise TemplateProblem(
            {field: f"|{filter_name}:{argument.group(1)} is larger than {cap}, the most an email allows."}
        )


# A source that failed validation is not cached (lru_cache keeps no exceptions): it is
# checked again each time, and any staff edit is a new source, so nothing stale is served.
COMPILED_TEMPLATES_MAX = 256


@lru_cache(maxsize=COMPILED_TEMPLATES_MAX)
def _compiled(source: str):  # type: ignore[no-untyped-def]
    """The checked, compiled template for a source text; per process, bounded.

    Lexing, checking and compiling cost more than rendering, and every message renders
    three or four sources that rarely change. A compiled Template is reusable: render
    state lives in the Context.
    """
    _check_tokens(source, "")
    try:
        return _engine().from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem({"": f"Template syntax error: {exc}"}) from exc


def _compile(source: str, field: str):  # type: ignore[no-untyped-def]
    try:
        return _compiled(source)
    except TemplateProblem as problem:
        # Validation ran without the field name (the cache is by source only): name it now.
        raise TemplateProblem({field: problem.message_dict[""]}) from problem.__cause__


class _Text(str):
    """A context string a template can print and test, but not loop over character by character.

    Three nested {% for %} over a 2048-character name took over a second per render; no email
    needs a name's letters one by one, so iterating one yields nothing.
    """

    __slots__ = ()

    def __iter__(self) -> Any:
        return iter(())


class _Data(dict):  # type: ignore[type-arg]
    """A dict a template can index (user.given_name) but whose methods it cannot reach.

    Django calls a callable it finds by attribute: {{ user.clear }} would empty the dict for
    the rest of the message and {{ user.items }} would dump it. Only item lookups resolve.
    """

    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("__"):
            return super().__getattribute__(name)
        raise AttributeError(name)

    def __dir__(self) -> list[str]:
        return []


def _inert(value: Any) -> Any:
    """The context as data only: dicts become _Data, lists tuples (no pop, no clear)."""
    if isinstance(value, dict):
        return _Data({key: _inert(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_inert(item) for item in value)
    if isinstance(value, str) and type(value) is str:
        return _Text(value)
    return value


RENDER_FAILED = "The template failed to render"


def _render_one(source: str, field: str, context: dict[str, Any], *, autoescape: bool) -> str:
    return _render_data(source, field, _inert(context), autoescape=autoescape)


def _render_data(source: str, field: str, data: Any, *, autoescape: bool) -> str:
    template = _compile(source, field)
    try:
        rendered: str = template.render(Context(data, autoescape=autoescape))
        return rendered
    except Exception as exc:  # a filter given bad input; staff must see why, not a 500
        raise TemplateProblem({field: f"{RENDER_FAILED}: {exc}"}) from exc


def problem_summary(problem: TemplateProblem) -> list[str]:
    """The problem's messages for a log line: a render error quotes the value it failed on
    (an address, a code), so only its field is kept; syntax and rule messages stay whole."""
    return [
        f"{RENDER_FAILED} ({field})" if message.startswith(RENDER_FAILED) else message
        for field, messages in problem.message_dict.items()
        for message in messages
    ]


def clean_subject(subject: str) -> str:
    # A subject is one header line: CR/LF would let input inject headers.
    return re.sub(r"\s+", " ", subject).strip()[:SUBJECT_MAX_CHARS]


def sample_context(key: str) -> dict[str, Any]:
    """Data for previews and validation, shaped like what the services pass."""
    return {
        "user": {"given_name": "Alice", "family_name": "Example", "email": "alice@example.com"},
        "company": {
            "name": "Acme",
            "display_name": "Acme Inc.",
            "logo_url": "",
            "accent_color": "#2f6fed",
            "sender_name": "Acme",
        },
        "role": {"key": "ADMIN", "name": "Administrator"},
        "code": CODE_PLACEHOLDER if key in COGNITO_KEYS else "123456",
        "username": USERNAME_PLACEHOLDER if key in COGNITO_KEYS else "alice@example.com",
        "invitation_code": "ABCD-EFGH-JKMN-PQRS",
        "existing_account": False,
        "expires_at": "2026-12-31 12:00 UTC",
        "app_url": settings.APP_URL,
        "minutes_valid": 5,
    }


def validate_template(*, key: str, subject: str, html_body: str, text_body: str, sms_body: str = "") -> None:
    """Raise TemplateProblem (field -> reason) unless the template is safe to save."""
    context = sample_context(key)
    rendered = {
        "subject": _render_one(subject, "subject", context, autoescape=False),
        "html_body": _render_one(html_body, "html_body", context, autoescape=True),
        "text_body": _render_one(text_body, "text_body", context, autoescape=False),
        "sms_body": _render_one(sms_body, "sms_body", context, autoescape=False) if sms_body else "",
    }
    errors: dict[str, list[str]] = {}
    if not rendered["subject"].strip():
        errors.setdefault("subject", []).append("The subject renders empty.")
    for field in ("html_body", "text_body"):
        if len(rendered[field]) > EMAIL_MAX_CHARS:
            errors.setdefault(field, []).append(
                f"Renders to {len(rendered[field])} characters; Cognito allows {EMAIL_MAX_CHARS}."
            )
    if len(rendered["sms_body"]) > SMS_MAX_CHARS:
        errors.setdefault("sms_body", []).append(
            f"Renders to {len(rendered['sms_body'])} characters; SMS allows {SMS_MAX_CHARS}."
        )
    for placeholder in COGNITO_KEYS.get(key, ()):
        name = "{{ code }}" if placeholder == CODE_PLACEHOLDER else "{{ username }}"
        for field in ("html_body", "text_body", "sms_body"):
            if field == "sms_body" and not sms_body:
                continue
            if placeholder not in rendered[field]:
                errors.setdefault(field, []).append(
                    f"Must contain {name}: Cognito puts the {name.strip('{} ')} there."
                )
    if key == "login_code":
        # A sign-in email without its code locks the user out of passwordless sign-in.
        for field in ("html_body", "text_body"):
            if str(context["code"]) not in rendered[field]:
                errors.setdefault(field, []).append("Must contain {{ code }}: the sign-in code goes there.")
    if errors:
        raise TemplateProblem(errors)


def _default_file(language: str, key: str, suffix: str) -> str | None:
    for lang in (language, "en"):
        path = DEFAULTS_DIR / lang / f"{key}{suffix}"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return None


@lru_cache(maxsize=256)
def default_source(key: str, language: str = "en") -> TemplateSource:
    """The default files of a template (shipped with the code: read once per process)."""
    subject = _default_file(language, key, ".subject.txt")
    html = _default_file(language, key, ".html")
    text = _default_file(language, key, ".txt")
    if subject is None or html is None or text is None:
        raise LookupError(f"No default email template files for {key!r}.")
    sms = _default_file(language, key, ".sms.txt") or ""
    return TemplateSource(
        key=key,
        language=language,
        subject=subject.strip(),
        html_body=html,
        text_body=text,
        sms_body=sms.strip(),
        origin="default",
    )


def render_source(source: TemplateSource, context: dict[str, Any]) -> RenderedEmail:
    # One inert copy for the four fields: a template cannot change it (_Data has no methods).
    data = _inert(context)
    return RenderedEmail(
        subject=clean_subject(_render_data(source.subject, "subject", data, autoescape=False)),
        html_body=_render_data(source.html_body, "html_body", data, autoescape=True),
        text_body=_render_data(source.text_body, "text_body", data, autoescape=False),
        sms_body=_render_data(source.sms_body, "sms_body", data, autoescape=False).strip()
        if source.sms_body
        else "",
        origin=source.origin,
    )
