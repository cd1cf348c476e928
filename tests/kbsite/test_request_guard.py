"""The request guard and the one API error format (kbsite/middleware.py, kbsite/api.py).

Every API error is JSON ``{"detail", "code", ...}``: NUL characters in parameters and headers,
unknown paths, wrong methods, bad Host headers, unreadable multipart bodies, server errors.
Bodies over the limit are refused on their Content-Length, before anything reads them.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from kbsite import api as kbsite_api
from knowledge import models
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


def _assert_error_format(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"]
    return body


class UnreadableBody(io.RawIOBase):
    """A request body that fails the test if anything reads it."""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the request body was read")

    def readline(self, size: int | None = -1) -> bytes:  # type: ignore[override]
        raise AssertionError("the request body was read")

    def readinto(self, buffer: Any) -> int:
        raise AssertionError("the request body was read")


def _post_unread(path: str, *, length: int, key: str | None = None, content_type: str = "application/json") -> Any:
    headers: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    return Client().generic(
        "POST", path, b"", content_type=content_type,
        **{"CONTENT_LENGTH": str(length), "wsgi.input": UnreadableBody(), **headers},  # type: ignore[arg-type]
    )


# --- NUL characters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/kb/files", {"search": "a\x00b"}),
        ("/api/v1/kb/files", {"status": "\x00"}),
        ("/api/v1/kb/ingest-jobs", {"status": "ready\x00"}),
        ("/api/v1/audit/recalls", {"q": "park\x00"}),
        ("/api/v1/audit/recalls", {"session_id": "call\x00-1"}),
        ("/api/v1/audit/recalls", {"source": "\x00"}),
        ("/api/v1/kb/files", {"sea\x00rch": "x"}),
    ],
)
def test_a_nul_in_an_api_query_parameter_is_a_422_in_the_error_format(
    api: ApiClient, path: str, params: dict[str, str]
) -> None:
    body = _assert_error_format(api.get(path, params), 422, "invalid_input")
    assert "NUL" in body["detail"]
    assert body["errors"][0]["loc"][0] == "query"


def test_a_nul_in_a_header_is_refused_before_it_reaches_the_database(
    admin_member: Any, login: Callable[..., Client]
) -> None:
    client = login(admin_member)
    response = client.get("/api/v1/kb/files", headers={"X-KB-Tenant": "bright\x00smile"})
    body = _assert_error_format(response, 422, "invalid_input")
    assert body["errors"][0]["loc"] == ["header", "X-Kb-Tenant"]


@pytest.mark.parametrize(
    ("url_name", "params"),
    [
        ("kb:files", {"q": "a\x00"}),
        ("kb:files", {"tenant": "brightsmile\x00"}),
        ("kb:audit_list", {"q": "x\x00"}),
        ("kb:audit_list", {"session": "\x00"}),
        ("kb:jobs", {"status": "\x00"}),
    ],
)
def test_a_nul_in_a_page_parameter_is_a_readable_400_page(
    admin_member: Any, login: Callable[..., Client], url_name: str, params: dict[str, str]
) -> None:
    response = login(admin_member).get(reverse(url_name), params)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert b"NUL character" in response.content


# --- Errors Django or ninja produce are JSON too ------------------------------------------------


def test_an_unknown_api_path_is_a_json_404(api: ApiClient, anon_api: ApiClient) -> None:
    for client in (api, anon_api):
        _assert_error_format(client.get("/api/v1/no-such-thing"), 404, "not_found")
        _assert_error_format(client.get("/api/v2/kb/files"), 404, "not_found")


def test_a_method_an_endpoint_does_not_take_is_a_json_405_that_says_which_it_does(api: ApiClient) -> None:
    response = api.client.put("/api/v1/kb/files", headers={"Authorization": f"Bearer {api.key}"})
    body = _assert_error_format(response, 405, "method_not_allowed")
    assert set(body["allow"]) == {"GET", "POST"}
    assert "GET" in response["Allow"]


def test_a_host_header_that_is_not_allowed_is_a_json_400(api: ApiClient) -> None:
    response = api.get("/api/v1/kb/files", headers={"Host": "evil.example"})
    _assert_error_format(response, 400, "bad_request")


def test_a_file_name_of_1200_characters_is_a_json_400_that_says_why(api: ApiClient) -> None:
    response = api.upload(b"hello", name="a" * 1200 + ".txt")
    body = _assert_error_format(response, 400, "invalid_multipart")
    assert "file name is too long" in body["detail"]
    assert models.Document.objects.count() == 0


def test_a_file_name_of_800_characters_is_shortened_and_stored(api: ApiClient) -> None:
    response = api.upload(b"hello", name="b" * 800 + ".txt", auto_ingest=False)
    assert response.status_code == 201, response.content
    assert len(response.json()["name"]) <= 200 and response.json()["name"].endswith(".txt")


@override_settings(ROOT_URLCONF="tests.kbsite.urls_failing")
def test_a_server_error_under_the_api_is_a_json_500() -> None:
    response = Client(raise_request_exception=False).get("/api/v1/test-failing")
    body = _assert_error_format(response, 500, "server_error")
    assert "always fails" not in body["detail"]  # no internals in the answer


def test_an_exception_inside_an_endpoint_is_a_json_500() -> None:
    request = RequestFactory().get("/api/v1/kb/files")
    response = kbsite_api.server_error(request, RuntimeError("secret internals"))
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    assert b"secret internals" not in response.content


def test_pages_keep_their_html_errors(admin_member: Any, login: Callable[..., Client]) -> None:
    response = login(admin_member).get("/kb/no-such-page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


# --- Bodies refused on Content-Length ---------------------------------------------------------


def test_a_300_mb_upload_is_refused_with_413_before_its_body_is_read(manage_key: str) -> None:
    response = _post_unread(
        "/api/v1/kb/files", length=300 * 1024 * 1024, key=manage_key,
        content_type="multipart/form-data; boundary=xyz",
    )
    body = _assert_error_format(response, 413, "too_large")
    assert body["limit_bytes"] < 300 * 1024 * 1024


def test_a_300_mb_upload_without_a_key_is_refused_before_its_body_is_read(tenant: models.Tenant) -> None:
    response = _post_unread(
        "/api/v1/kb/files", length=300 * 1024 * 1024, content_type="multipart/form-data; boundary=xyz"
    )
    assert response.status_code in (401, 413)
    assert response["Content-Type"].startswith("application/json")


def test_an_upload_within_the_limit_without_a_key_gets_401_without_its_body_being_read(
    tenant: models.Tenant,
) -> None:
    response = _post_unread(
        "/api/v1/kb/files", length=1024 * 1024, content_type="multipart/form-data; boundary=xyz"
    )
    _assert_error_format(response, 401, "unauthorized")


def test_other_endpoints_allow_only_a_small_body(retrieve_key: str, settings: Any) -> None:
    settings.KB_API_MAX_BODY_KB = 64
    response = _post_unread("/api/v1/retrieve", length=65 * 1024, key=retrieve_key)
    body = _assert_error_format(response, 413, "too_large")
    assert body["limit_bytes"] == 64 * 1024
    # The upload limit is for the upload endpoint only.
    _assert_error_format(_post_unread("/api/v1/audit/recalls", length=2 * 1024 * 1024, key=retrieve_key), 413, "too_large")


def test_the_upload_limit_follows_the_setting(manage_key: str, settings: Any) -> None:
    settings.KB_MAX_UPLOAD_MB = 2
    response = _post_unread(
        "/api/v1/kb/files", length=3 * 1024 * 1024, key=manage_key, content_type="multipart/form-data; boundary=x"
    )
    assert _assert_error_format(response, 413, "too_large")["limit_bytes"] > 2 * 1024 * 1024


def test_a_content_length_that_is_not_a_number_is_a_json_400(retrieve_key: str) -> None:
    response = Client().generic(
        "POST", "/api/v1/retrieve", b"{}", content_type="application/json",
        CONTENT_LENGTH="lots", HTTP_AUTHORIZATION=f"Bearer {retrieve_key}",
    )
    _assert_error_format(response, 400, "bad_request")


def test_a_normal_upload_still_works(api: ApiClient) -> None:
    assert api.upload(b"Open Saturdays 9 to 12.", name="hours.txt", auto_ingest=False).status_code == 201


def test_a_nul_in_a_form_field_is_refused_by_its_schema_or_form(
    api: ApiClient, support_member: Any, login: Callable[..., Client], retrieval_on: Any
) -> None:
    fh = io.BytesIO(b"hello")
    fh.name = "hello.txt"
    response = api.client.post(
        "/api/v1/kb/files", {"file": fh, "kind": "knowledge\x00"}, headers={"Authorization": f"Bearer {api.key}"}
    )
    _assert_error_format(response, 422, "invalid_input")
    page = login(support_member).post(reverse("kb:retrieval_test"), {"query": "open\x00", "top_k": 5})
    assert page.status_code == 200 and b"Null characters are not allowed" in page.content
    from audit.models import RecallAudit

    assert RecallAudit.objects.count() == 0


def test_a_multipart_body_with_too_many_fields_is_a_json_400(api: ApiClient) -> None:
    fh = io.BytesIO(b"hello")
    fh.name = "hello.txt"
    fields: dict[str, Any] = {f"f{i}": "x" for i in range(1200)}
    response = api.client.post(
        "/api/v1/kb/files", {"file": fh, **fields}, headers={"Authorization": f"Bearer {api.key}"}
    )
    body = _assert_error_format(response, 400, "bad_request")
    assert "TooManyFields" in body["detail"]
