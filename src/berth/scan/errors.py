"""What can go wrong between Harbor and a scanner adapter, each with the HTTP status the spec gives it."""

from __future__ import annotations


class AdapterError(Exception):
    """An error the adapter answers with `{"error": {"message": ...}}` and `status`."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(AdapterError):
    """Invalid JSON, JSON values of the wrong type, or a report query missing what it needs."""

    status = 400


class Unauthorized(AdapterError):
    status = 401


class ScanUnknown(AdapterError):
    """No scan request with this id (never made, or older than the adapter keeps them)."""

    status = 404


class UnsupportedMediaType(AdapterError):
    """An `Accept` that names no scanner report at all (harbor-scanner-trivy answers 415 too)."""

    status = 415


class InvalidField(AdapterError):
    """A well-typed scan request whose field's value is not acceptable (a relative URL, a bad digest)."""

    status = 422


class ScanFailed(AdapterError):
    """The scan ran and failed: Harbor stops polling and records the message."""

    status = 500


class NotCapable(AdapterError):
    """A report or capability of the spec this scanner does not produce."""

    status = 501
