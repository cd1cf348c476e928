"""The business profile API (DESIGN §10): ``GET``/``PUT /api/v1/tenant/profile``.

A ``manage`` key or an admin's session; the tenant comes from the key or the session, never
from the body. PUT replaces the whole profile (absent fields: empty); bad input answers 400
with what is wrong — the body is read here rather than by a schema, so a wrong type gets the
same clear message as a wrong value.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from kbsite.errors import InvalidInput
from knowledge import auth, models
from knowledge.snapshots import profile, services

router = Router(tags=["Business profile"])

profile_auth = auth.TenantAuth(scope=models.Scope.MANAGE, roles=auth.ADMIN_ROLES)


class ExceptionOut(Schema):
    date: str
    hours: list[str]
    note: str


class ProfileOut(Schema):
    name: str
    description: str
    address: str
    phone: str
    email: str
    timezone: str
    locale: str
    opening_hours: dict[str, list[str]]
    exceptions: list[ExceptionOut]
    service_area: str


_TEXT = {"type": "string"}
_HOURS = {"type": "array", "items": {"type": "string", "example": "08:00-12:00"}}
PROFILE_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object",
    "properties": {
        **{name: _TEXT for name in ("name", "description", "address", "phone", "email", "timezone", "locale",
                                    "service_area")},
        "opening_hours": {"type": "object", "properties": {day: _HOURS for day in profile.WEEKDAYS}},
        "exceptions": {"type": "array", "items": {"type": "object", "properties": {
            "date": {"type": "string", "format": "date"}, "hours": _HOURS, "note": _TEXT}}},
    },
}}}}}


@router.get("/profile", response=ProfileOut, auth=profile_auth)
def get_profile(request: HttpRequest) -> dict[str, Any]:
    return services.profile_json(tenant=auth.principal(request).tenant)


@router.put("/profile", response=ProfileOut, auth=profile_auth, openapi_extra=PROFILE_BODY)
def put_profile(request: HttpRequest) -> dict[str, Any]:
    """Replace the profile. 400: a malformed time, time zone, weekday or locale, or a person's
    contact details (e-mail, phone…) in a free-text field."""
    p = auth.principal(request)
    try:
        data = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("the body must be a JSON object") from exc
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    return services.profile_put(tenant=p.tenant, data=data, user=p.user)
