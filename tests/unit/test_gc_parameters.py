"""Harbor's GC parameters as berth takes them, and the storage keys GC reads back (pure)."""

from __future__ import annotations

import pytest

from berth.gc import GcParameters, GcParametersInvalid, GcReport, parse_parameters
from berth.references import parse_digest
from berth.storage import paths


def test_omitted_parameters_are_false_and_one_worker() -> None:
    assert parse_parameters(None) == GcParameters(False, False, 1)
    assert parse_parameters({"delete_tag": True, "time_window": 3}) == GcParameters(False, False, 1)


def test_given_parameters_are_kept() -> None:
    assert parse_parameters({"delete_untagged": True, "dry_run": "true", "workers": 10}) == GcParameters(True, True, 10)


@pytest.mark.parametrize("workers", [0, 11, -3, 2.5, "4", True])
def test_workers_outside_one_to_ten_are_refused_with_harbors_message(workers: object) -> None:
    with pytest.raises(GcParametersInvalid, match="Invalid number of workers:.*Workers must be greater than 0 and "
                                                  "less than or equal to 10"):
        parse_parameters({"workers": workers})


def test_report_summary_says_would_free_on_a_dry_run() -> None:
    assert GcReport(dry_run=True, blobs=2, bytes=10).summary().startswith("would free 10 bytes in 2 blob(s)")
    assert GcReport(blobs=1, bytes=3).check_in()["freed_space"] == 3


def test_blob_and_upload_keys_read_back() -> None:
    digest = parse_digest("sha256:" + "ab" * 32)
    assert paths.blob_digest_of(paths.blob_path(digest)) == digest
    assert paths.blob_digest_of("blobs/sha256/cd/" + "ab" * 32 + "/data") is None
    assert paths.blob_digest_of("exports/scandata_export_1.csv") is None
    upload = "0b6f5c1e-8e7a-4a53-9d0a-1f2b3c4d5e6f"
    assert paths.upload_id_of(paths.upload_part_path(upload, 0)) == upload
    assert paths.upload_id_of("uploads/not-a-uuid/0") is None
