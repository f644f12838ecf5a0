"""Domain errors. Each carries the OCI error code that names it; fronts map codes to status."""

from __future__ import annotations

from typing import Any


class RegistryError(Exception):
    code = "UNKNOWN"

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class BlobUnknown(RegistryError):
    code = "BLOB_UNKNOWN"


class BlobUploadInvalid(RegistryError):
    code = "BLOB_UPLOAD_INVALID"


class BlobUploadUnknown(RegistryError):
    code = "BLOB_UPLOAD_UNKNOWN"


class DigestInvalid(RegistryError):
    code = "DIGEST_INVALID"


class ManifestBlobUnknown(RegistryError):
    code = "MANIFEST_BLOB_UNKNOWN"


class ManifestInvalid(RegistryError):
    code = "MANIFEST_INVALID"


class ManifestUnknown(RegistryError):
    code = "MANIFEST_UNKNOWN"


class ManifestTooLarge(RegistryError):
    code = "SIZE_INVALID"


class NameInvalid(RegistryError):
    code = "NAME_INVALID"


class NameUnknown(RegistryError):
    code = "NAME_UNKNOWN"


class SizeInvalid(RegistryError):
    code = "SIZE_INVALID"


class TagInvalid(RegistryError):
    code = "TAG_INVALID"


class RangeInvalid(RegistryError):
    code = "RANGE_INVALID"


class Unsupported(RegistryError):
    code = "UNSUPPORTED"


class PaginationInvalid(RegistryError):
    code = "PAGINATION_NUMBER_INVALID"


class ServiceError(Exception):
    """A refusal of the Harbor API's kind: carries Harbor's status and error code."""

    status = 400
    code = "BAD_REQUEST"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ServiceError):
    pass


class Unauthorized(ServiceError):
    status, code = 401, "UNAUTHORIZED"


class Forbidden(ServiceError):
    status, code = 403, "FORBIDDEN"


class Denied(ServiceError):
    """Harbor's DENIED: refused by policy rather than by role."""

    status, code = 403, "DENIED"


class NotFound(ServiceError):
    status, code = 404, "NOT_FOUND"


class Conflict(ServiceError):
    status, code = 409, "CONFLICT"


class PreconditionFailed(ServiceError):
    status, code = 412, "PRECONDITION"


class Unprocessable(ServiceError):
    """The request is well formed but names something it cannot apply to (an artifact that is not an image, for a scan)."""

    status, code = 422, "UNPROCESSABLE_ENTITY"


class TooManyRequests(ServiceError):
    status, code = 429, "TOO_MANY_REQUEST"
