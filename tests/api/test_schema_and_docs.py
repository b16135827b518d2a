import re

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_openapi_schema_validates_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = target.read_text()
    for path in ["/api/v1/accounts:", "/api/v1/accounts/{account_id}/deposit:", "/api/v1/transfers:",
                 "/api/v1/accounts/{account_id}/statement:"]:
        assert path in schema
    assert "Idempotency-Key" in schema and "bearer" in schema


def test_schema_is_public_json(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "MintGuard API"


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_docs_render_from_local_static_files_only(client, page):
    response = client.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    urls = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r'"(https?://[^"]+)"', html)
    assert urls, "the page should load its assets"
    external = [u for u in urls if u.startswith(("http://", "https://", "//")) and "/api/schema" not in u]
    assert external == []
    for url in urls:
        if url.startswith("/static/"):
            assert client.get(url).status_code == 200, url
