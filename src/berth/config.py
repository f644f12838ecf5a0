"""berth's settings: one pydantic-settings object from flags, BERTH_* variables and an optional YAML file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

MAX_MANIFEST_BYTES = 4 * 1024 * 1024


class Settings(BaseSettings):
    """Every setting berth has. Precedence: CLI flags > BERTH_* env > YAML file > defaults."""

    model_config = SettingsConfigDict(env_prefix="BERTH_", env_nested_delimiter="__", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(5000, ge=0, le=65535)
    data_dir: Path = Path("./data")
    #: SQLAlchemy URL; default SQLite (WAL) in data_dir. PostgreSQL: postgresql+asyncpg://user:pw@host/db
    database_url: str | None = None
    #: "filesystem" (under data_dir/blobs unless storage_options.root) or "objectstore"
    storage_driver: Literal["filesystem", "objectstore"] = "filesystem"
    #: driver options; objectstore: url (s3://bucket, az://container, gs://bucket) plus store options
    storage_options: dict[str, Any] = Field(default_factory=dict)
    #: answer object-store blob GETs with a redirect to a presigned URL
    storage_redirect: bool = False
    storage_redirect_expiry_seconds: int = Field(1200, ge=1)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: "console" (one readable line per event) or "json" (one JSON object per line, for log shippers)
    log_format: Literal["console", "json"] = "console"
    #: external base URL when behind a proxy (used in Location headers)
    public_url: str | None = None
    #: ASGI server
    server: Literal["uvicorn", "granian"] = "uvicorn"
    #: seconds a cached tag -> digest answer may be served without re-checking the database
    #: (0 = until invalidated by a write on this node; set > 0 when several nodes share a database)
    tag_cache_ttl: float = Field(0.0, ge=0)
    #: a proxy-cache project asks its upstream whether a tag moved at most once per this many seconds
    #: per tag (0: on every pull, as Harbor does)
    proxy_revalidate_seconds: float = Field(0.0, ge=0, le=86400)
    #: mirror mode: the proxy-cache project that serves pulls without a project prefix, by the upstream
    #: a runtime names (containerd's `?ns=`; none named means docker.io), `*` for any other:
    #: {"docker.io": "hub"} serves `/v2/library/nginx/...` through project `hub`
    mirror_projects: dict[str, str] = Field(default_factory=dict)
    #: with a project's prevent_vul on, an image without a successful scan (none yet, pending, running,
    #: failed, stopped) is refused for at most this many seconds after its push or its scan's start;
    #: unset: refused until a scan succeeds (Harbor's behaviour)
    unscanned_pull_grace_seconds: float | None = Field(None, ge=0)
    #: seconds to let in-flight requests finish on shutdown
    shutdown_timeout: float = Field(30.0, ge=0)
    #: abandoned upload sessions older than this are purged
    upload_expiry_hours: float = Field(24.0, gt=0)
    #: the garbage collector deletes a blob only after it has been unreferenced this long (Harbor's
    #: two-hour time window): a push linking it meanwhile keeps it
    gc_grace_seconds: float = Field(7200.0, ge=0)
    #: seconds between writes of pull counts and pull times (counted in memory in between)
    pull_count_flush_seconds: float = Field(5.0, gt=0, le=3600)

    #: the `admin` user's password, used once: when the database has no admin yet
    #: (unset: a password is generated and printed on the console at that first start)
    admin_password: SecretStr | None = None
    #: key that seals stored secrets (LDAP bind password, OIDC client secret); unset: data_dir/secret.key,
    #: made at first start. Nodes that share a database must share it.
    secret_key: SecretStr | None = None
    #: Harbor system configuration items (auth_mode, ldap_*, oidc_*, token_expiration, ...), written over
    #: the stored values at every start; the rest can be changed with PUT /api/v2.0/configurations
    configurations: dict[str, Any] = Field(default_factory=dict)
    #: failed logins allowed per user name and per client address in 5 minutes before 429
    login_failures_per_user: int = Field(10, ge=1)
    login_failures_per_address: int = Field(30, ge=1)
    #: addresses of reverse proxies whose X-Forwarded-For/-Proto berth believes (uvicorn only), so that
    #: login throttling and the audit see the real client; "*" trusts any peer
    trusted_proxies: list[str] = Field(default_factory=list)

    #: background jobs (webhook deliveries, audit purges, later scans, GC, replication): `berth serve`
    #: runs a pool of this many concurrent jobs unless `jobs` is false; `berth worker` runs one alone
    workers: int = Field(4, ge=1, le=256)
    jobs: bool = True
    #: a running job's lease, renewed every third of it; a job whose worker died runs again after it
    job_lease_seconds: float = Field(30.0, ge=0.3, le=3600)
    #: how often idle workers look for due jobs queued by other processes
    job_poll_seconds: float = Field(1.0, gt=0, le=60)
    #: a failed attempt is retried after this many seconds, each next retry twice as late, at most retry_max
    job_retry_base_seconds: float = Field(2.0, ge=0, le=3600)
    job_retry_max_seconds: float = Field(300.0, ge=0, le=86400)
    #: a replication policy with copy_by_chunk moves blobs larger than this in pieces of this size
    #: (Harbor's REPLICATION_CHUNK_SIZE, 10 MiB)
    replication_chunk_size: int = Field(10 * 1024 * 1024, ge=1024, le=1024**3)
    #: how often each job-running process looks for due cron schedules
    schedule_poll_seconds: float = Field(5.0, gt=0, le=60)
    #: extra job kinds, "module:attribute" naming a berth.jobs.kinds.JobKind (plug-ins and tests)
    extra_job_kinds: list[str] = Field(default_factory=list)
    #: webhook deliveries: retries after the first attempt, and each attempt's HTTP timeout
    webhook_max_retries: int = Field(3, ge=0, le=20)
    webhook_timeout_seconds: float = Field(3.0, gt=0, le=300)
    #: how long a scan data export's CSV is kept when nobody downloads it (Harbor: a day); a download
    #: deletes it at once
    scan_export_retention_hours: float = Field(24.0, gt=0, le=24 * 365)
    #: connected installs: OSV exports (all.zip URLs or paths, as `berth vulndb import` takes them)
    #: imported again on `vulndb_update_cron`; empty (the default): records come only from
    #: `berth vulndb import` (air-gapped)
    vulndb_update_sources: list[str] = []
    #: Harbor's six-field cron (seconds first): daily at 03:00 UTC
    vulndb_update_cron: str = "0 0 3 * * *"

    #: Prometheus metrics (Harbor's `metric: enabled, port, path`). Unauthenticated, as Harbor's exporter:
    #: they name every project, private ones too. With metric_port they are served only on that port
    #: (same host), else on berth's own port at metric_path.
    metric_enabled: bool = False
    metric_port: int | None = Field(None, ge=1, le=65535)
    metric_path: str = "/metrics"
    #: project, job and storage gauges come from aggregate queries run at most once per this many seconds
    metric_refresh_seconds: float = Field(10.0, ge=0, le=3600)

    #: the scanner adapter (`berth scanner serve`): Harbor's pluggable scanner API on its own port, on
    #: the same database and data folder as `berth serve`
    scanner_port: int = Field(8080, ge=0, le=65535)
    #: the credential Harbor's scanner registration sends: as `Authorization: Bearer <it>`,
    #: `Authorization: Basic base64(<it>)` or `X-ScannerAdapter-API-Key: <it>`. Without it the adapter does not
    #: start unless scanner_insecure_no_auth is set (it fetches from whatever registry a caller names)
    scanner_api_key: SecretStr | None = None
    scanner_insecure_no_auth: bool = False
    #: registries the adapter may fetch from (host or host:port); empty: any
    scanner_registry_hosts: list[str] = Field(default_factory=list)
    #: scans one process runs at once (`berth scanner serve`, and each `berth serve` or `berth worker`
    #: running scan jobs), each in a process of its own, and how long one may take
    scanner_workers: int = Field(1, ge=1, le=64)
    #: the CPU niceness added to scan processes (0-19): a scan takes what the node's requests leave
    scanner_nice: int = Field(10, ge=0, le=19)
    scanner_timeout_seconds: float = Field(300.0, gt=0, le=86400)
    #: how long a scan and its reports are kept after their last change (Harbor polls for up to 30 min)
    scanner_report_ttl_seconds: float = Field(3600.0, ge=3600, le=30 * 86400)
    #: the Refresh-After a report poll gets while its scan runs (Harbor reads at most 127)
    scanner_refresh_after_seconds: int = Field(5, ge=1, le=127)

    config_file: Path | None = Field(None, exclude=True)

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("metric_path")
    @classmethod
    def _metric_path(cls, value: str) -> str:
        if not value.startswith("/") or len(value) < 2 or any(c in value for c in "?# "):
            raise ValueError("must be a path such as /metrics")
        taken = ("/v2", "/api/", "/service/", "/c/")
        if value == "/v2" or any(value.startswith(prefix) for prefix in (*taken, "/v2/")):
            raise ValueError(f"must not be under a path berth serves ({', '.join(taken)})")
        return value.rstrip("/")

    @field_validator("vulndb_update_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from berth.schedules import ScheduleInvalid, validate_cron

        try:
            validate_cron(value)
        except ScheduleInvalid as exc:
            raise ValueError(str(exc)) from None
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls, init_settings, env_settings))

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'berth.db').resolve()}"


    @property
    def keys_dir(self) -> Path:
        return (self.data_dir / "keys").resolve()

    @property
    def effective_storage_options(self) -> dict[str, Any]:
        options = dict(self.storage_options)
        if self.storage_driver == "filesystem":
            options.setdefault("root", str((self.data_dir / "storage").resolve()))
        return options


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the YAML file named by --config or BERTH_CONFIG_FILE."""

    def __init__(self, settings_cls, init_settings, env_settings) -> None:  # type: ignore[no-untyped-def]
        super().__init__(settings_cls)
        self._path = init_settings().get("config_file") or env_settings().get("config_file")

    def get_field_value(self, field, field_name):  # type: ignore[no-untyped-def]
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if not self._path:
            return {}
        path = Path(self._path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except OSError as exc:
            raise ValueError(f"cannot read config file {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ValueError(f"config file {path} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"config file {path} must be a mapping of settings")
        return {key.replace("-", "_"): value for key, value in data.items()}
