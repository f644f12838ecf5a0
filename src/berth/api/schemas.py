"""Pydantic models for the Harbor API bodies berth reads and writes; names and fields are the swagger's."""

from __future__ import annotations

from typing import Annotated, Any

from functools import cache

from annotated_types import Interval
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    create_model,
    field_validator,
    model_serializer,
)

from berth.api.keep_empty import KEEP_EMPTY, MAPS
from berth.api.numbers import Int32, Int64, RowId
from berth.services.configurations import ITEMS, UNSUPPORTED


class HarborModel(BaseModel):
    """Every body: on the wire (JSON), an optional field that is empty (None, "", 0, false, [], {})
    is left out, as Harbor's go-swagger models do (`omitempty`), unless Harbor's swagger requires it or
    marks it `x-omitempty: false` (keep_empty.py, generated from the swagger). A nested object is
    left out only when absent, as Go leaves out a nil pointer but not an empty struct."""

    @model_serializer(mode="wrap")
    def _omit_empty(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo):  # type: ignore[no-untyped-def]
        # no return annotation: pydantic would take it as the schema of the serialized model
        data = handler(self)
        if not info.mode_is_json() or not isinstance(data, dict):
            return data
        keep = _kept_when_empty(type(self))
        for name, field in type(self).model_fields.items():
            key = (field.serialization_alias or field.alias or name) if info.by_alias else name
            if name in keep or key not in data:
                continue
            value = getattr(self, name)
            if value is None or (isinstance(value, str | int | float | list | dict | tuple | set) and not value):
                del data[key]
        return data


@cache
def _kept_when_empty(model: type[BaseModel]) -> frozenset[str]:
    """The swagger's kept fields of the model's definition (the first class of its MRO that is one);
    every field of a swagger map (ResourceList: `{"storage": 0}`)."""
    if model.__name__ in MAPS:
        return frozenset(model.model_fields)
    return next((KEEP_EMPTY[cls.__name__] for cls in model.__mro__ if cls.__name__ in KEEP_EMPTY), frozenset())


class _In(HarborModel):
    """Request bodies: unknown fields are ignored, as go-swagger does."""

    model_config = ConfigDict(extra="ignore")


class ProjectMetadata(HarborModel):
    public: str | None = None
    enable_content_trust: str | None = None
    enable_content_trust_cosign: str | None = None
    prevent_vul: str | None = None
    severity: str | None = None
    auto_scan: str | None = None
    auto_sbom_generation: str | None = None
    reuse_sys_cve_allowlist: str | None = None
    retention_id: str | None = None
    proxy_speed_kb: str | None = None
    max_upstream_conn: str | None = None
    proxy_cache_local_on_not_found: str | None = None
    proxy_referrer_api: str | None = None
    proxy_cache_filter_pattern: str | None = None
    proxy_cache_filter_kind: str | None = None


class CVEAllowlistItem(HarborModel):
    cve_id: str | None = None


class CVEAllowlist(HarborModel):
    id: Int32 | None = None
    project_id: Int32 | None = None
    expires_at: Int64 | None = None
    items: list[CVEAllowlistItem] | None = None
    creation_time: str | None = None
    update_time: str | None = None


class ProjectMetadataIn(ProjectMetadata):
    """ProjectMetadata as a request body: Harbor's values are strings; booleans are taken as "true"/"false"."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _booleans_as_strings(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if value is None or isinstance(value, str) else str(value)


class ProjectReq(_In):
    project_name: str | None = Field(None, max_length=255)
    public: bool | None = None
    metadata: ProjectMetadataIn | None = None
    cve_allowlist: CVEAllowlist | None = None
    storage_limit: Int64 | None = None
    registry_id: Int32 | None = None


class Project(HarborModel):
    project_id: int
    owner_id: int | None = None
    name: str
    registry_id: int | None = None
    creation_time: str
    update_time: str
    deleted: bool = False
    owner_name: str = ""
    togglable: bool | None = None
    current_user_role_id: int = 0
    current_user_role_ids: list[int] | None = None
    repo_count: int = 0
    metadata: ProjectMetadata
    cve_allowlist: CVEAllowlist | None = None


class ProjectDeletable(HarborModel):
    deletable: bool
    message: str = ""


class ResourceList(HarborModel):
    storage: Int64


class ProjectSummaryQuota(HarborModel):
    hard: ResourceList
    used: ResourceList


class ProjectSummary(HarborModel):
    repo_count: int
    project_admin_count: int = 0
    maintainer_count: int = 0
    developer_count: int = 0
    guest_count: int = 0
    limited_guest_count: int = 0
    quota: ProjectSummaryQuota | None = None
    registry: Registry | None = None


class UserEntity(_In):
    user_id: Int32 | None = None
    username: str | None = None


class UserGroup(_In):
    id: Int32 | None = None
    group_name: str | None = None
    group_type: Int32 | None = None
    ldap_group_dn: str | None = None


class ProjectMember(_In):
    role_id: Int32 | None = None
    member_user: UserEntity | None = None
    member_group: UserGroup | None = None


class RoleRequest(_In):
    role_id: Int32 | None = None


class ProjectMemberEntity(HarborModel):
    id: int
    project_id: int
    entity_name: str
    role_name: str
    role_id: int
    entity_id: int
    entity_type: str


class OIDCUserInfo(HarborModel):
    id: int | None = None
    user_id: int | None = None
    subiss: str | None = None
    secret: str | None = None
    creation_time: str | None = None
    update_time: str | None = None


class UserResp(HarborModel):
    email: str = ""
    realname: str = ""
    comment: str = ""
    user_id: int
    username: str
    sysadmin_flag: bool = False
    admin_role_in_auth: bool = False
    oidc_user_meta: OIDCUserInfo | None = None
    creation_time: str
    update_time: str


class UserCreationReq(_In):
    email: str | None = Field(None, max_length=255)
    realname: str | None = None
    comment: str | None = None
    password: str | None = None
    username: str | None = Field(None, max_length=255)


class UserProfile(_In):
    email: str | None = None
    realname: str | None = None
    comment: str | None = None


class UserSearchRespItem(HarborModel):
    user_id: int
    username: str


class PasswordReq(_In):
    old_password: str | None = None
    new_password: str | None = None


class UserSysAdminFlag(_In):
    sysadmin_flag: bool | None = None


class OIDCCliSecretReq(_In):
    secret: str | None = None


class UserGroupSearchItem(HarborModel):
    id: int
    group_name: str
    group_type: int


class Access(_In):
    resource: str | None = None
    action: str | None = None
    effect: str | None = None


class RobotPermission(_In):
    kind: str | None = None
    namespace: str | None = None
    access: list[Access] | None = None


class RobotCreate(_In):
    name: str | None = None
    description: str | None = None
    secret: str | None = None
    level: str | None = None
    disable: bool | None = None
    duration: Int32 | None = None
    permissions: list[RobotPermission] | None = None


class Robot(_In):
    id: Int32 | None = None
    name: str | None = None
    description: str | None = None
    secret: str | None = None
    level: str | None = None
    duration: Int32 | None = None
    editable: bool | None = None
    disable: bool | None = None
    expires_at: Int64 | None = None
    permissions: list[RobotPermission] | None = None
    creator_type: str | None = None
    creator_ref: Int32 | None = None
    creation_time: str | None = None
    update_time: str | None = None


class RobotCreated(HarborModel):
    id: int
    name: str
    secret: str
    creation_time: str
    expires_at: int


class RobotSec(HarborModel):
    secret: str | None = None


class Permission(HarborModel):
    resource: str
    action: str


class Permissions(HarborModel):
    system: list[Permission]
    project: list[Permission]


class AuthproxySetting(HarborModel):
    endpoint: str | None = None
    tokenreivew_endpoint: str | None = None  # Harbor's spelling
    skip_search: bool | None = None
    verify_cert: bool | None = None
    server_certificate: str | None = None


class Storage(HarborModel):
    total: int
    free: int


class SystemInfo(HarborModel):
    storage: list[Storage]


class RegistryCredential(HarborModel):
    #: basic, oauth or secret
    type: str | None = None
    access_key: str | None = None
    #: answered as "*****" when one is stored (never the secret itself)
    access_secret: str | None = None


class Registry(HarborModel):
    """A registry endpoint (api/registries.py); `ca_certificate`: PEM CA certificates that verify the
    endpoint's server instead of the system's."""

    id: int | None = None
    url: str | None = None
    name: str | None = None
    credential: RegistryCredential | None = None
    type: str | None = None
    insecure: bool | None = None
    ca_certificate: str | None = None
    description: str | None = None
    status: str | None = None
    creation_time: str | None = None
    update_time: str | None = None


class GeneralInfo(HarborModel):
    banner_message: str | None = None
    current_time: str | None = None
    registry_url: str | None = None
    external_url: str | None = None
    auth_mode: str | None = None
    primary_auth_mode: bool | None = None
    project_creation_restriction: str | None = None
    self_registration: bool | None = None
    has_ca_root: bool | None = None
    harbor_version: str | None = None
    registry_storage_provider_name: str | None = None
    read_only: bool | None = None
    notification_enable: bool | None = None
    oidc_provider_name: str | None = None
    authproxy_settings: AuthproxySetting | None = None


class LdapConf(_In):
    ldap_url: str | None = None
    ldap_search_dn: str | None = None
    ldap_search_password: str | None = None
    ldap_base_dn: str | None = None
    ldap_filter: str | None = None
    ldap_uid: str | None = None
    ldap_scope: Int32 | None = None
    ldap_connection_timeout: Int32 | None = None
    ldap_verify_cert: bool | None = None


class LdapPingResult(HarborModel):
    success: bool
    message: str = ""


class LdapUser(HarborModel):
    username: str
    realname: str = ""
    email: str = ""


class LdapImportUsers(_In):
    ldap_uid_list: list[str] | None = None


class LdapFailedImportUser(HarborModel):
    uid: str
    error: str


class OIDCPing(_In):
    url: str | None = None
    verify_cert: bool | None = None


class Repository(HarborModel):
    id: int
    project_id: int | None = None
    name: str
    description: str = ""
    artifact_count: int = 0
    pull_count: int = 0
    creation_time: str
    update_time: str


class RepositoryUpdate(HarborModel):
    """Harbor sends a whole Repository; only `description` is taken."""

    id: Int32 | None = None
    project_id: Int32 | None = None
    name: str | None = None
    description: str | None = None
    artifact_count: Int64 | None = None
    pull_count: Int64 | None = None
    creation_time: str | None = None
    update_time: str | None = None


class StringConfigItem(HarborModel):
    value: str
    editable: bool


class BoolConfigItem(HarborModel):
    value: bool
    editable: bool


class IntegerConfigItem(HarborModel):
    value: int
    editable: bool


class ScanAllPolicyParameter(HarborModel):
    daily_time: int | None = None


class ScanAllPolicy(HarborModel):
    type: str | None = None
    parameter: ScanAllPolicyParameter | None = None


_CONFIG_ITEM = {str: StringConfigItem, bool: BoolConfigItem, int: IntegerConfigItem}
_CONFIG_TYPES = {key: item.type for key, item in ITEMS.items()} | UNSUPPORTED
_BODY_TYPES: dict[type, Any] = {str: str, bool: bool, int: Int64}

#: GET /configurations: every item Harbor has, as {value, editable}; secrets are never included
ConfigurationsResponse = create_model(  # type: ignore[call-overload]
    "ConfigurationsResponse",
    **{key: (_CONFIG_ITEM[kind] | None, None) for key, kind in _CONFIG_TYPES.items()
       if not (key in ITEMS and ITEMS[key].secret)},
    scan_all_policy=(ScanAllPolicy | None, None),
)
#: PUT /configurations: any subset of the items, each with Harbor's type
Configurations = create_model(  # type: ignore[call-overload]
    "Configurations",
    __config__=ConfigDict(extra="forbid"),
    **{key: (_BODY_TYPES[kind] | None, None) for key, kind in _CONFIG_TYPES.items()},
)


class Platform(HarborModel):
    model_config = ConfigDict(populate_by_name=True)

    architecture: str | None = None
    os: str | None = None
    os_version: str | None = Field(None, alias="'os.version'")
    os_features: list[str] | None = Field(None, alias="'os.features'")
    variant: str | None = None


class Reference(HarborModel):
    parent_id: int | None = None
    child_id: int | None = None
    child_digest: str | None = None
    platform: Platform | None = None
    annotations: dict[str, str] | None = None
    urls: list[str] | None = None


class Tag(HarborModel):
    id: int
    repository_id: int
    artifact_id: int
    name: str
    push_time: str
    pull_time: str
    immutable: bool = False
    #: with_signature: a signature verifies under the project's trust policy (without one: one exists)
    signed: bool | None = None


class ImmutableSelector(HarborModel):
    kind: str | None = None
    decoration: str | None = None
    pattern: str | None = None
    extras: str | None = None


class ImmutableRule(HarborModel):
    """A tag immutability rule (swagger tag `immutable`); bodies in are the same model."""

    id: Int64 | None = None
    priority: Int64 | None = None
    disabled: bool | None = None
    action: str | None = None
    template: str | None = None
    params: dict[str, Any] | None = None
    tag_selectors: list[ImmutableSelector] | None = None
    scope_selectors: dict[str, list[ImmutableSelector]] | None = None


class ImmutableRuleIn(ImmutableRule, _In):
    pass


class NewTag(_In):
    name: str | None = None


class SignatureVerification(BaseModel):
    """berth's addition to an accessory that is a signature: its verdict under the trust policy in force.
    Not Harbor's, so every field is always there (`"verified": false` says more than a missing key)."""

    verified: bool
    format: str
    signer: str = ""
    reason: str = ""
    signed_at: str | None = None
    attestation: bool = False


class Accessory(HarborModel):
    id: int
    artifact_id: int
    subject_artifact_id: int
    subject_artifact_digest: str
    subject_artifact_repo: str
    size: int
    digest: str
    type: str
    icon: str = ""
    creation_time: str
    #: berth's: a signature's verdict (with_accessory, under a trust policy in audit or enforce mode)
    verification: SignatureVerification | None = None


class Scanner(HarborModel):
    name: str | None = None
    vendor: str | None = None
    version: str | None = None


class SBOMOverview(HarborModel):
    start_time: str | None = None
    end_time: str | None = None
    scan_status: str | None = None
    sbom_digest: str | None = None
    report_id: str | None = None
    duration: int | None = None
    scanner: Scanner | None = None


class AdditionLink(HarborModel):
    href: str
    absolute: bool = False


class Label(HarborModel):
    id: int
    name: str
    description: str = ""
    color: str = ""
    scope: str
    project_id: int = 0
    creation_time: str
    update_time: str


class LabelIn(_In):
    id: Int32 | None = None
    name: str | None = None
    description: str | None = None
    color: str | None = None
    scope: str | None = None
    project_id: Int32 | None = None
    creation_time: str | None = None
    update_time: str | None = None


class Artifact(HarborModel):
    id: int
    type: str
    media_type: str
    manifest_media_type: str
    artifact_type: str | None = None
    project_id: int | None = None
    repository_id: int
    repository_name: str
    digest: str
    size: int
    icon: str | None = None
    push_time: str
    pull_time: str
    extra_attrs: dict[str, Any] | None = None
    annotations: dict[str, str] | None = None
    references: list[Reference] | None = None
    tags: list[Tag] | None = None
    #: filled by the features that own them (additions, labels, scanning); absent until then
    addition_links: dict[str, AdditionLink] | None = None
    labels: list[Label] | None = None
    scan_overview: dict[str, NativeReportSummary] | None = None
    sbom_overview: SBOMOverview | None = None
    accessories: list[Accessory] | None = None
    inherited_accessories: list[Accessory] | None = None


class Quota(HarborModel):
    id: int
    ref: dict[str, Any]
    hard: ResourceList
    used: ResourceList
    creation_time: str
    update_time: str


class QuotaUpdateReq(_In):
    hard: ResourceList | None = None


class SearchRepository(HarborModel):
    project_id: int | None = None
    project_name: str = ""
    project_public: bool = False
    repository_name: str
    pull_count: int = 0
    artifact_count: int = 0


class Search(HarborModel):
    project: list[Project]
    repository: list[SearchRepository]


class Statistic(HarborModel):
    private_project_count: int = 0
    private_repo_count: int = 0
    public_project_count: int = 0
    public_repo_count: int = 0
    total_project_count: int | None = None
    total_repo_count: int | None = None
    total_storage_consumption: int | None = None


# --- background work: executions and tasks (webhooks, purges, later GC, scans, replication) ---------


class Metrics(HarborModel):
    task_count: int = 0
    success_task_count: int = 0
    error_task_count: int = 0
    pending_task_count: int = 0
    running_task_count: int = 0
    scheduled_task_count: int = 0
    stopped_task_count: int = 0


class Execution(HarborModel):
    id: int
    vendor_type: str
    vendor_id: int
    status: str
    status_message: str = ""
    metrics: Metrics | None = None
    trigger: str
    extra_attrs: dict[str, Any] = Field(default_factory=dict)
    start_time: str
    end_time: str = ""


class Task(HarborModel):
    id: int
    execution_id: int
    status: str
    status_message: str = ""
    run_count: int
    extra_attrs: dict[str, Any] = Field(default_factory=dict)
    creation_time: str
    update_time: str
    start_time: str = ""
    end_time: str = ""


class ScheduleObj(HarborModel):
    type: str | None = None
    cron: str | None = None
    next_scheduled_time: str | None = None


class ScheduleIn(_In):
    """Harbor's Schedule as a request body: the schedule and the job's parameters."""

    schedule: ScheduleObj | None = None
    parameters: dict[str, Any] | None = None


class ExecHistory(HarborModel):
    id: int
    job_name: str
    job_kind: str
    job_parameters: str
    schedule: ScheduleObj | None = None
    job_status: str
    deleted: bool = False
    creation_time: str
    update_time: str


class ScheduleTask(HarborModel):
    id: int
    vendor_type: str
    vendor_id: int
    cron: str
    update_time: str


class SchedulerStatus(HarborModel):
    paused: bool


class WorkerPool(HarborModel):
    pid: int
    worker_pool_id: str
    start_at: str
    heartbeat_at: str
    concurrency: int
    host: str


class Worker(HarborModel):
    id: str
    pool_id: str
    job_name: str | None = None
    job_id: str | None = None
    start_at: str | None = None
    check_in: str | None = None
    checkin_at: str | None = None


class JobQueue(HarborModel):
    job_type: str
    count: int
    latency: int
    paused: bool


class ActionRequest(_In):
    action: str | None = None


# --- webhooks --------------------------------------------------------------------------------------


class WebhookTargetObject(_In):
    type: str | None = None
    address: str | None = None
    #: shown only to callers who may update the policy; omitted on a PUT, the stored header is kept
    auth_header: str | None = None
    skip_cert_verify: bool | None = None
    payload_format: str | None = None


class WebhookPolicy(_In):
    id: Int64 | None = None
    name: str | None = None
    description: str | None = None
    project_id: Int32 | None = None
    targets: list[WebhookTargetObject] | None = None
    event_types: list[str] | None = None
    creator: str | None = None
    creation_time: str | None = None
    update_time: str | None = None
    enabled: bool | None = None


class WebhookPolicyIn(WebhookPolicy):
    """A policy as POST and PUT take it. Beyond Harbor: `signing_secret` (write-only) makes berth sign
    every delivery with X-Berth-Signature-256; omitted on a PUT it is kept, "" removes it."""

    signing_secret: str | None = None


class PayloadFormat(HarborModel):
    notify_type: str
    formats: list[str]


class SupportedWebhookEventTypes(HarborModel):
    event_type: list[str]
    notify_type: list[str]
    payload_formats: list[PayloadFormat]


class WebhookJob(HarborModel):
    id: int
    policy_id: int
    event_type: str
    notify_type: str
    status: str
    job_detail: str
    creation_time: str
    update_time: str


class WebhookLastTrigger(HarborModel):
    policy_name: str
    event_type: str
    enabled: bool
    creation_time: str
    last_trigger_time: str


# --- audit log (swagger tags auditlog, purge) ------------------------------------------------------


class AuditLog(HarborModel):
    id: int
    username: str
    resource: str
    resource_type: str
    operation: str
    op_time: str


class AuditLogExt(AuditLog):
    operation_description: str
    operation_result: bool


class AuditLogEventType(HarborModel):
    event_type: str


class SystemScheduleIn(ScheduleIn):
    """Harbor's Schedule of a system job (audit purge, scan all), with its read-only fields (accepted
    and ignored)."""

    id: Int64 | None = None
    status: str | None = None
    creation_time: str | None = None
    update_time: str | None = None


class Icon(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    content_type: str = Field(alias="content-type", description="The content type of the icon")
    content: str = Field(description="The base64 encoded content of the icon")


# --- scanning ----------------------------------------------------------------------------------------


class ScannerRegistration(HarborModel):
    uuid: str | None = None
    name: str | None = None
    description: str | None = None
    url: str | None = None
    disabled: bool | None = None
    is_default: bool | None = None
    auth: str | None = None
    #: never shown: the stored credential is write-only (sent again, or kept when left empty)
    access_credential: str | None = None
    skip_certVerify: bool | None = None
    use_internal_addr: bool | None = None
    create_time: str | None = None
    update_time: str | None = None
    adapter: str | None = None
    vendor: str | None = None
    version: str | None = None
    health: str | None = None
    capabilities: dict[str, Any] | None = None


class ScannerRegistrationReq(_In):
    name: str
    url: str
    description: str | None = None
    auth: str | None = None
    access_credential: str | None = None
    skip_certVerify: bool | None = None
    use_internal_addr: bool | None = None
    disabled: bool | None = None


class ScannerRegistrationSettings(_In):
    name: str
    url: str
    auth: str | None = None
    access_credential: str | None = None


class IsDefault(_In):
    is_default: bool | None = None


class ProjectScanner(_In):
    uuid: str


class ScannerCapability(HarborModel):
    type: str | None = None
    consumes_mime_types: list[str] | None = None
    produces_mime_types: list[str] | None = None


class ScannerAdapterMetadata(HarborModel):
    scanner: Scanner | None = None
    capabilities: list[ScannerCapability] | None = None
    properties: dict[str, str] | None = None


class VulnerabilitySummary(HarborModel):
    total: int | None = None
    fixable: int | None = None
    summary: dict[str, int] | None = None


class NativeReportSummary(HarborModel):
    report_id: str | None = None
    scan_status: str | None = None
    severity: str | None = None
    duration: Int64 | None = None
    summary: VulnerabilitySummary | None = None
    start_time: str | None = None
    end_time: str | None = None
    complete_percent: int | None = None
    scanner: Scanner | None = None


class DangerousCVE(HarborModel):
    cve_id: str | None = None
    severity: str | None = None
    cvss_score_v3: float | None = None
    desc: str | None = None
    package: str | None = None
    version: str | None = None


class DangerousArtifact(HarborModel):
    project_id: int | None = None
    repository_name: str | None = None
    digest: str | None = None
    critical_cnt: int | None = None
    high_cnt: int | None = None
    medium_cnt: int | None = None


class SecuritySummary(HarborModel):
    critical_cnt: int | None = None
    high_cnt: int | None = None
    medium_cnt: int | None = None
    low_cnt: int | None = None
    none_cnt: int | None = None
    unknown_cnt: int | None = None
    total_vuls: int | None = None
    scanned_cnt: int | None = None
    total_artifact: int | None = None
    fixable_cnt: int | None = None
    dangerous_cves: list[DangerousCVE] | None = None
    dangerous_artifacts: list[DangerousArtifact] | None = None


class VulnerabilityItem(HarborModel):
    project_id: int | None = None
    repository_name: str | None = None
    digest: str | None = None
    tags: list[str] | None = None
    cve_id: str | None = None
    severity: str | None = None
    status: str | None = None
    cvss_v3_score: float | None = None
    package: str | None = None
    version: str | None = None
    fixed_version: str | None = None
    desc: str | None = None
    links: list[str] | None = None


# --- scan data export -----------------------------------------------------------------------------
#: a filter pattern's longest accepted form (Harbor sets none; a pattern is compiled to a regex)
_PATTERN = Field(None, max_length=1024)


class ScanDataExportRequest(_In):
    job_name: str | None = Field(None, max_length=255)
    projects: list[Int64] | None = Field(None, max_length=100)
    labels: list[Int64] | None = Field(None, max_length=100)
    repositories: str | None = _PATTERN
    cveIds: str | None = _PATTERN  # noqa: N815 (Harbor's name)
    tags: str | None = _PATTERN
    #: beyond Harbor: the PyPI harborapi client sends the CVE filter under this name (Harbor ignores it)
    cve_ids: str | None = _PATTERN


class ScanDataExportJob(HarborModel):
    id: int


class ScanDataExportExecution(HarborModel):
    id: int | None = None
    user_id: int | None = None
    status: str | None = None
    trigger: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    status_text: str = ""
    user_name: str = ""
    file_present: bool = False


class ScanDataExportExecutionList(HarborModel):
    items: list[ScanDataExportExecution] | None = None


class ScanType(_In):
    scan_type: str | None = None


class Stats(HarborModel):
    """Harbor's Stats: a scan-all run's progress."""

    total: int
    completed: int
    metrics: dict[str, int] | None = None
    ongoing: bool
    trigger: str | None = None


class Schedule(HarborModel):
    """Harbor's Schedule of a system job (scan all)."""

    id: int | None = None
    status: str | None = None
    creation_time: str | None = None
    update_time: str | None = None
    schedule: ScheduleObj | None = None
    parameters: dict[str, Any] | None = None


# --- tag retention (swagger tag Retention) -------------------------------------------------------------


class RetentionSelector(HarborModel):
    kind: str | None = None
    decoration: str | None = None
    pattern: str | None = None
    extras: str | None = None


class RetentionRule(HarborModel):
    id: int | None = None
    priority: int | None = None
    disabled: bool | None = None
    action: str | None = None
    template: str | None = None
    params: dict[str, Any] | None = None
    tag_selectors: list[RetentionSelector] | None = None
    scope_selectors: dict[str, list[RetentionSelector]] | None = None


class RetentionRuleTrigger(HarborModel):
    kind: str | None = None
    settings: dict[str, Any] | None = None
    references: dict[str, Any] | None = None


class RetentionPolicyScope(HarborModel):
    level: str | None = None
    ref: int | None = None


class RetentionPolicy(HarborModel):
    id: Int64 | None = None
    algorithm: str | None = None
    rules: list[RetentionRule] | None = None
    trigger: RetentionRuleTrigger | None = None
    scope: RetentionPolicyScope | None = None


class RetentionPolicyIn(_In):
    """A RetentionPolicy body, read loosely: berth.retention.policy checks it and says what is wrong
    in Harbor's words (a 400), where a typed model would answer a bare 422."""

    id: Any = None
    algorithm: Any = None
    rules: Any = None
    trigger: Any = None
    scope: Any = None

    def as_body(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ("algorithm", "rules", "trigger", "scope")
                if getattr(self, name) is not None}


class RetentionRuleParamMetadata(HarborModel):
    type: str | None = None
    unit: str | None = None
    required: bool | None = None


class RetentionRuleMetadata(HarborModel):
    rule_template: str | None = None
    display_text: str | None = None
    action: str | None = None
    params: list[RetentionRuleParamMetadata] | None = None


class RetentionSelectorMetadata(HarborModel):
    display_text: str | None = None
    kind: str | None = None
    decorations: list[str] | None = None


class RetentionMetadata(HarborModel):
    templates: list[RetentionRuleMetadata] | None = None
    scope_selectors: list[RetentionSelectorMetadata] | None = None
    tag_selectors: list[RetentionSelectorMetadata] | None = None


class RetentionExecution(HarborModel):
    id: Int64 | None = None
    policy_id: Int64 | None = None
    start_time: str | None = None
    end_time: str | None = None
    status: str | None = None
    trigger: str | None = None
    dry_run: bool | None = None


class RetentionExecutionTask(HarborModel):
    id: Int64 | None = None
    execution_id: Int64 | None = None
    repository: str | None = None
    job_id: str | None = None
    status: str | None = None
    status_code: int = 0
    status_revision: Int64 | None = None
    start_time: str | None = None
    end_time: str | None = None
    total: int = 0
    retained: int = 0


class RetentionDryRun(_In):
    dry_run: bool | None = None


class RetentionAction(_In):
    action: str | None = None


# --- registries (swagger tag `registry`) -----------------------------------------------------------------


class RegistryIn(_In):
    """createRegistry's body (Harbor's Registry): id, status and the times are read and ignored."""

    id: Int64 | None = None
    status: str | None = None
    creation_time: str | None = None
    update_time: str | None = None
    url: str | None = None
    name: str | None = None
    credential: RegistryCredential | None = None
    type: str | None = None
    insecure: bool | None = None
    ca_certificate: str | None = None
    description: str | None = None


class _RegistryAccess(_In):
    """How to reach an endpoint, in RegistryUpdate and RegistryPing: each field left out keeps the stored one."""

    url: str | None = None
    credential_type: str | None = None
    access_key: str | None = None
    #: left out (or "*****"): the stored secret stays
    access_secret: str | None = None
    insecure: bool | None = None
    ca_certificate: str | None = None


class RegistryUpdate(_RegistryAccess):
    name: str | None = None
    description: str | None = None


class RegistryPing(_RegistryAccess):
    id: RowId | None = None
    type: str | None = None


class FilterStyle(HarborModel):
    type: str | None = None
    style: str | None = None
    values: list[str] | None = None


class RegistryInfo(HarborModel):
    type: str | None = None
    description: str | None = None
    supported_resource_filters: list[FilterStyle] | None = None
    supported_triggers: list[str] | None = None
    supported_copy_by_chunk: bool | None = None


class RegistryEndpoint(HarborModel):
    key: str | None = None
    value: str | None = None


class RegistryProviderEndpointPattern(HarborModel):
    endpoint_type: str | None = None
    endpoints: list[RegistryEndpoint] | None = None


class RegistryProviderCredentialPattern(HarborModel):
    access_key_type: str | None = None
    access_key_data: str | None = None
    access_secret_type: str | None = None
    access_secret_data: str | None = None


class RegistryProviderInfo(HarborModel):
    endpoint_pattern: RegistryProviderEndpointPattern | None = None
    credential_pattern: RegistryProviderCredentialPattern | None = None
    #: berth's addition: whether berth has an adapter for the type (the others are refused); always sent
    supported: bool | None = None


class ReplicationFilter(HarborModel):
    type: str | None = None
    #: a string for name, tag and resource filters; a list of strings for label filters
    value: Any = None
    decoration: str | None = None


class ReplicationTriggerSettings(HarborModel):
    cron: str | None = None


class ReplicationTrigger(HarborModel):
    type: str | None = None
    trigger_settings: ReplicationTriggerSettings | None = None


class ReplicationPolicyIn(_In):
    """createReplicationPolicy's and updateReplicationPolicy's body: integers bounded (Harbor's int8
    flattening level, int32 speed); id and the times are read and ignored."""

    id: Int64 | None = None
    name: str | None = None
    description: str | None = None
    src_registry: RegistryIn | None = None
    dest_registry: RegistryIn | None = None
    dest_namespace: str | None = None
    dest_namespace_replace_count: Annotated[int, Interval(ge=-128, le=127)] | None = None
    trigger: ReplicationTrigger | None = None
    filters: list[ReplicationFilter] | None = None
    replicate_deletion: bool | None = None
    deletion: bool | None = None
    override: bool | None = None
    enabled: bool | None = None
    creation_time: str | None = None
    update_time: str | None = None
    speed: Int32 | None = None
    copy_by_chunk: bool | None = None
    single_active_replication: bool | None = None


class ReplicationPolicy(ReplicationPolicyIn):
    """Harbor's ReplicationPolicy as berth answers it (api/replication.py): whole Registry bodies."""

    src_registry: Registry | None = None  # type: ignore[assignment]
    dest_registry: Registry | None = None  # type: ignore[assignment]


class StartReplicationExecution(_In):
    policy_id: Int64 | None = None


class ReplicationExecution(HarborModel):
    id: int | None = None
    policy_id: int | None = None
    status: str | None = None
    trigger: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    status_text: str | None = None
    total: int | None = None
    failed: int | None = None
    succeed: int | None = None
    in_progress: int | None = None
    stopped: int | None = None


class ReplicationTask(HarborModel):
    id: int | None = None
    execution_id: int | None = None
    status: str | None = None
    job_id: str | None = None
    operation: str | None = None
    resource_type: str | None = None
    src_resource: str | None = None
    dst_resource: str | None = None
    start_time: str | None = None
    end_time: str | None = None
