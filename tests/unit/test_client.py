"""berth.client without a server: its generated layer is current (one method per operation berth
serves), its types resolve, and its pure pieces (Link, Retry-After, Location, error bodies) read
what Harbor sends."""

from __future__ import annotations

import inspect
import runpy
import typing
from pathlib import Path

import httpx
import pytest

from berth.client import HarborClient, HarborError, models
from berth.client.core import created_id, next_link, retry_after

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def generator() -> dict:
    return runpy.run_path(str(ROOT / "scripts/gen-client"))


@pytest.fixture(scope="module")
def document(generator: dict) -> dict:
    return generator["openapi"]()


def test_the_generated_files_are_current(generator: dict, document: dict) -> None:
    for path, text in generator["render"](document).items():
        assert path.read_text() == text, f"{path.relative_to(ROOT)} is stale: run scripts/gen-client"


def test_every_operation_berth_serves_is_a_method(generator: dict, document: dict) -> None:
    for _, method, operation in generator["operations"](document):
        name = generator["snake"](operation["operationId"])
        assert callable(getattr(HarborClient, name, None)), (operation["operationId"], method)
    assert HarborClient.list_projects.__doc__ == "List Projects."
    assert "q" in inspect.signature(HarborClient.iter_list_projects).parameters
    assert "page" not in inspect.signature(HarborClient.iter_list_projects).parameters


def test_the_types_resolve() -> None:
    namespace = {**vars(models), "m": models, "Iterator": typing.Iterator, "httpx": httpx}
    for name in models.__all__:
        value = getattr(models, name)
        if isinstance(value, type):
            typing.get_type_hints(value, include_extras=True)
    for name, function in inspect.getmembers(HarborClient, inspect.isfunction):
        if not name.startswith("_"):
            typing.get_type_hints(function, globalns={**vars(inspect.getmodule(function)), **namespace})
    hints = typing.get_type_hints(HarborClient.iter_list_projects, globalns=namespace)
    assert hints["return"] == typing.Iterator[models.Project]
    assert typing.get_type_hints(models.ProjectReq, include_extras=True)["project_name"] is not None


@pytest.mark.parametrize(("operation_id", "name"), [
    ("listProjects", "list_projects"), ("getCVEAllowlist", "get_cve_allowlist"),
    ("X-Scan-Data-Type", "x_scan_data_type"), ("getSBOMOverview", "get_sbom_overview"),
])
def test_snake_case_names(generator: dict, operation_id: str, name: str) -> None:
    assert generator["snake"](operation_id) == name


def _response(status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              method: str = "GET", path: str = "/api/v2.0/projects/x") -> httpx.Response:
    return httpx.Response(status, content=body, headers=headers,
                          request=httpx.Request(method, f"http://registry{path}"))


def test_next_link_reads_harbors_link_header() -> None:
    link = '</api/v2.0/projects?page=1&page_size=10>; rel="prev" , </api/v2.0/projects?page=3&page_size=10>; rel="next"'
    assert next_link(_response(200, headers={"Link": link})) == "/api/v2.0/projects?page=3&page_size=10"
    assert next_link(_response(200, headers={"Link": '</a?page=1>; rel="prev"'})) is None
    assert next_link(_response(200)) is None


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after(_response(429, headers={"Retry-After": "7"})) == 7.0
    assert retry_after(_response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
    assert retry_after(_response(503)) is None


def test_created_id_from_location() -> None:
    assert created_id(_response(201, headers={"Location": "/api/v2.0/projects/12"})) == 12
    assert created_id(_response(201, headers={"Location": "/api/v2.0/registries/web"})) == "web"
    assert created_id(_response(201)) is None


def test_harbor_error_from_harbors_body_and_from_any_other() -> None:
    error = HarborError.from_response(_response(
        409, b'{"errors":[{"code":"CONFLICT","message":"The project named x already exists"}]}', method="POST",
        path="/api/v2.0/projects"))
    assert (error.status, error.code, error.message, error.method, error.path) == (
        409, "CONFLICT", "The project named x already exists", "POST", "/projects")
    assert str(error) == "POST /projects: 409 CONFLICT: The project named x already exists"
    plain = HarborError.from_response(_response(502, b"<html>\n bad gateway\n</html>"))
    assert (plain.code, plain.message) == ("BAD_GATEWAY", "<html> bad gateway </html>")
    assert HarborError.from_response(_response(404)).message == "Not Found"
