"""GET /api/v2.0/ping and /api/v2.0/health as Harbor answers them, without authentication."""

from __future__ import annotations

import json

from tests.conftest import free_port, start_berth


def test_ping_answers_pong_as_text(berth) -> None:
    with berth.client() as client:
        response = client.get("/api/v2.0/ping")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "Pong"


def test_health_reports_every_component_healthy(berth) -> None:
    with berth.client() as client:
        body = client.get("/api/v2.0/health").json()
    assert body["status"] == "healthy"
    assert {c["name"]: c["status"] for c in body["components"]} == {
        "core": "healthy",
        "database": "healthy",
        "registry": "healthy",
    }
    assert all("error" not in c for c in body["components"])


def test_health_names_an_unreachable_blob_store(tmp_path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    options = {"url": "s3://nowhere", "endpoint": dead, "allow_http": True, "access_key_id": "x",
               "secret_access_key": "y", "region": "us-east-1", "client_options": {"timeout": "2s", "connect_timeout": "1s"}}
    server = start_berth(tmp_path / "data", {"BERTH_STORAGE_DRIVER": "objectstore", "BERTH_STORAGE_OPTIONS": json.dumps(options)})
    try:
        with server.client() as client:
            response = client.get("/api/v2.0/health")
            assert client.get("/api/v2.0/ping").text == "Pong"  # the API itself is up
    finally:
        server.stop()
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "unhealthy"
    registry = next(c for c in body["components"] if c["name"] == "registry")
    assert registry["status"] == "unhealthy" and registry["error"]
    assert next(c for c in body["components"] if c["name"] == "database")["status"] == "healthy"


def test_unknown_api_paths_answer_in_harbors_error_shape(berth) -> None:
    with berth.client() as client:
        response = client.get("/api/v2.0/no-such-thing")
        wrong_method = client.delete("/api/v2.0/ping")
    assert response.status_code == 404
    assert response.json() == {"errors": [{"code": "NOT_FOUND", "message": "Not Found"}]}
    assert wrong_method.status_code == 405
    assert wrong_method.json()["errors"][0]["code"] == "METHOD_NOT_ALLOWED"


def test_the_api_describes_itself_in_openapi(berth) -> None:
    with berth.client() as client:
        document = client.get("/api/v2.0/openapi.json").json()
        page = client.get("/api/v2.0/docs")
    operations = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    assert {"getPing", "getHealth"} <= operations
    assert document["servers"][0]["url"] == "/api/v2.0"
    assert page.status_code == 200 and "/api/v2.0/openapi.json" in page.text


def test_the_browsable_docs_page_needs_no_network(berth) -> None:
    import re

    with berth.client(auth=None) as client:
        page = client.get("/api/v2.0/docs").text
        assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page)
        assert assets and all(url.startswith("/api/v2.0/docs-assets/") for url in assets), assets
        for url in assets:
            response = client.get(url)
            assert response.status_code == 200 and len(response.content) > 100, url
        assert "SwaggerUIBundle" in client.get("/api/v2.0/docs-assets/swagger-ui-bundle.js").text
