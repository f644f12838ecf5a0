"""Helm chart packages for tests: a gzipped tar of the given files, as `helm package` writes it."""

from __future__ import annotations

import io
import tarfile


def chart_archive(files: dict[str, str]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return raw.getvalue()
