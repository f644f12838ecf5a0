"""The Harbor API v2.0 client's core: one pooled httpx connection set, retries with backoff, paging,
and Harbor's error body as `HarborError`. The typed per-operation methods are in `operations.py`."""

from __future__ import annotations

import email.utils
import random
import re
import ssl
import time
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any

import httpx

from berth.client.operations import Operations

API_ROOT = "/api/v2.0"
#: statuses worth another try: the server (or a proxy in front of it) is busy or restarting
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: statuses that say the request was refused before it did anything: safe to repeat even a POST
REFUSED_STATUSES = frozenset({429, 503})
#: methods whose repetition has the effect of one request (RFC 9110 9.2.2)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: the largest page Harbor serves (a larger page_size is a 422)
MAX_PAGE_SIZE = 100

_LINK = re.compile(r'<([^>]*)>\s*;[^,<]*?rel="?([^",;\s]+)"?')


class HarborError(Exception):
    """A Harbor API error: the HTTP status with the first `{"errors":[{"code","message"}]}` entry
    (or the status text when the body is not that). `status` 0: no HTTP answer (connection failed)."""

    def __init__(self, status: int, code: str, message: str, method: str = "", path: str = "",
                 errors: list[dict[str, str]] | None = None) -> None:
        self.status, self.code, self.message = status, code, message
        self.method, self.path = method, path
        #: every entry of the error body (Harbor may send more than one)
        self.errors = errors if errors is not None else [{"code": code, "message": message}]
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.method} {self.path}: " if self.method else ""
        status = f"{self.status} " if self.status else ""
        return " ".join(f"{where}{status}{self.code}: {self.message}".split())

    @classmethod
    def from_response(cls, response: httpx.Response) -> HarborError:
        request = response.request
        method, path = request.method, request.url.path.removeprefix(API_ROOT) or "/"
        errors: list[dict[str, str]] = []
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("errors"), list):
            errors = [{"code": str(e.get("code", "")), "message": str(e.get("message", ""))}
                      for e in body["errors"] if isinstance(e, dict)]
        if errors:
            return cls(response.status_code, errors[0]["code"] or _status_code(response),
                       "; ".join(e["message"] for e in errors if e["message"]) or response.reason_phrase,
                       method, path, errors)
        text = " ".join(response.text.split())[:300] if response.content else ""
        return cls(response.status_code, _status_code(response), text or response.reason_phrase, method, path)


def _status_code(response: httpx.Response) -> str:
    """Harbor's style of code from the status text: 404 -> NOT_FOUND."""
    return re.sub(r"[^A-Z0-9]+", "_", response.reason_phrase.upper()).strip("_") or str(response.status_code)


def retry_after(response: httpx.Response) -> float | None:
    """The seconds a Retry-After header asks for (delta-seconds or an HTTP date), None without one."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def next_link(response: httpx.Response) -> str | None:
    """The target of `Link: <…>; rel="next"`, None without one."""
    for target, rel in _LINK.findall(response.headers.get("Link", "")):
        if rel == "next":
            return target
    return None


def created_id(response: httpx.Response) -> int | str | None:
    """The id at the end of a 201's Location header (`/api/v2.0/projects/12` -> 12), None without one."""
    location = response.headers.get("Location", "").split("?")[0].rstrip("/")
    if not location:
        return None
    last = location.rpartition("/")[2]
    return int(last) if last.isdigit() else last


class HarborClient(Operations):
    """A Harbor API v2.0 client: `url` is the registry's base URL; paths are relative to /api/v2.0.

    Basic credentials are a user's or a robot's (`robot$name`, `robot$project+name`). Requests that
    fail with 429/502/503/504, a connection error or a timeout are retried `retries` times with
    exponential backoff from `backoff` seconds, waiting as Retry-After asks (both at most `max_backoff`);
    a POST or PATCH is repeated only when it cannot have had an effect (refused with 429/503, or the
    connection failed before it was sent)."""

    def __init__(
        self, url: str, username: str | None = None, password: str | None = None, *,
        verify: bool | str = True, retries: int = 4, timeout: float = 30.0, backoff: float = 0.5,
        max_backoff: float = 30.0, headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None, max_connections: int = 20,
    ) -> None:
        base = url.rstrip("/").removesuffix(API_ROOT)
        self.url = base
        self.retries, self.backoff, self.max_backoff = retries, backoff, max_backoff
        self._http = httpx.Client(
            base_url=base + API_ROOT,
            auth=httpx.BasicAuth(username, password or "") if username is not None else None,
            verify=ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify,
            timeout=timeout, headers={"Accept": "application/json", **(headers or {})},
            transport=transport, follow_redirects=False,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    # -- life cycle

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HarborClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    # -- requests

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json: Any = None, content: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> httpx.Response:
        """Send a request (with retries); a 4xx/5xx answer raises HarborError."""
        method = method.upper()
        url = self._url(path)
        query = {k: _query_value(v) for k, v in (params or {}).items() if v is not None} or None
        attempt = 0
        while True:
            try:
                response = self._http.request(method, url, params=query, json=json, content=content,
                                              headers=headers)
            except httpx.TransportError as exc:
                if attempt >= self.retries or not _may_retry_error(method, exc):
                    raise HarborError(0, "CONNECTION_ERROR", f"{type(exc).__name__}: {exc}",
                                      method, _path_of(url)) from exc
                self._sleep(attempt, None)
            else:
                if response.status_code < 400:
                    return response
                if attempt >= self.retries or not _may_retry_status(method, response.status_code):
                    raise HarborError.from_response(response)
                self._sleep(attempt, retry_after(response) if response.status_code in (429, 503) else None)
            attempt += 1

    def get(self, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        """GET and the parsed JSON body (None for an empty body)."""
        return json_of(self.request("GET", path, params=params))

    def post(self, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None) -> httpx.Response:
        return self.request("POST", path, params=params, json=json)

    def put(self, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None) -> httpx.Response:
        return self.request("PUT", path, params=params, json=json)

    def patch(self, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None) -> httpx.Response:
        return self.request("PATCH", path, params=params, json=json)

    def delete(self, path: str, *, params: Mapping[str, Any] | None = None) -> httpx.Response:
        return self.request("DELETE", path, params=params)

    @staticmethod
    def created_id(response: httpx.Response) -> int | str | None:
        """The id a 201's Location header names (`/api/v2.0/projects/12` -> 12)."""
        return created_id(response)

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        return json_of(response)

    def paginate(self, path: str, *, params: Mapping[str, Any] | None = None,
                 page_size: int = MAX_PAGE_SIZE) -> Iterator[Any]:
        """Every item of a paged list, page after page: follows `Link: rel="next"`, else X-Total-Count,
        else stops at a short page."""
        base = {**(params or {}), "page_size": page_size}
        page, seen = 1, 0
        url: str | None = path
        query: dict[str, Any] = {**base, "page": page}
        while url is not None:
            response = self.request("GET", url, params=query)
            items = json_of(response) or []
            if not isinstance(items, list):
                raise HarborError(response.status_code, "UNEXPECTED_BODY", "a paged list answered with "
                                  f"{type(items).__name__}, not a list", "GET", _path_of(url))
            yield from items
            page, seen = page + 1, seen + len(items)
            link = next_link(response)
            total = response.headers.get("X-Total-Count", "")
            if link is not None:
                url, query = link, {}  # the link carries the query (page, page_size and filters)
            elif items and (seen < int(total) if total.isdigit() else len(items) >= page_size):
                url, query = path, {**base, "page": page}
            else:
                url = None

    # -- internals

    def _url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        if path.startswith(API_ROOT + "/") or path == API_ROOT:
            return self.url + path  # a Link target: absolute from the host
        return "/" + path.lstrip("/")

    def _sleep(self, attempt: int, asked: float | None) -> None:
        delay = min(self.max_backoff, self.backoff * 2**attempt) * random.uniform(0.5, 1.0)
        if asked is not None:
            delay = min(max(asked, delay), max(self.max_backoff, delay))
        time.sleep(delay)


def json_of(response: httpx.Response) -> Any:
    """The parsed JSON body, None when it is empty."""
    return response.json() if response.content.strip() else None


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):  # repeated: ?status=a&status=b
        return [_query_value(v) for v in value]
    return value


def _path_of(url: str) -> str:
    return httpx.URL(url).path.removeprefix(API_ROOT) or "/"


def _may_retry_error(method: str, exc: httpx.TransportError) -> bool:
    if _caused_by(exc, ssl.SSLError):
        return False  # an untrusted certificate stays untrusted
    # connecting (or waiting for a pooled connection) failed: nothing was sent, any method may repeat
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return True
    return method in IDEMPOTENT_METHODS and isinstance(exc, (httpx.TimeoutException, httpx.NetworkError,
                                                            httpx.RemoteProtocolError))


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _may_retry_status(method: str, status: int) -> bool:
    return status in RETRY_STATUSES and (method in IDEMPOTENT_METHODS or status in REFUSED_STATUSES)
