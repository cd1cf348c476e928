import io
import pytest
from django.test import Client
pytestmark = pytest.mark.django_db

def show(label, r):
    print(label, r.status_code, r.get("Content-Type"), r.content[:150])

from tests.conftest import ApiClient
def test_probe(manage_key, tenant, make_user, login):
    api = ApiClient(manage_key, client=Client(raise_request_exception=False)); anon_api = ApiClient(None, client=Client(raise_request_exception=False))
    show("nul search", api.get("/api/v1/kb/files", {"search": "a\x00b"}))
    show("nul q", api.get("/api/v1/audit/recalls", {"q": "a\x00b"}))
    show("nul session", api.get("/api/v1/audit/recalls", {"session_id": "a\x00b"}))
    show("date_to", api.get("/api/v1/audit/recalls", {"date_to": "9999-12-31"}))
    show("longname", api.upload(b"hello world", name="a" * 1200 + ".txt"))
    show("unknown", api.get("/api/v1/nope"))
    show("405", api.client.put("/api/v1/kb/files", headers={"Authorization": "Bearer " + api.key}))
    show("badhost", api.get("/api/v1/kb/files", headers={"Host": "evil.example"}))
    show("nul tenant header", api.get("/api/v1/kb/files", headers={"X-KB-Tenant": "a\x00"}))
    show("nul auth", anon_api.get("/api/v1/kb/files", headers={"Authorization": "Bearer kb_\x00x"}))
    m = make_user("mem", tenant=tenant, role="member")
    c = Client(raise_request_exception=False); c.force_login(m)
    show("member jobs", c.get("/api/v1/kb/ingest-jobs"))
    show("member retrieve", c.post("/api/v1/retrieve", {"query": "x"}, content_type="application/json"))
    show("page nul", c.get("/kb/files/", {"q": "a\x00"}))
    show("page tenant nul", c.get("/kb/files/", {"tenant": "a\x00"}))
