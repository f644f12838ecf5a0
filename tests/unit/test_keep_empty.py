"""Empty optional fields are left out of Harbor API bodies as Harbor's go-swagger models do, except the
fields the swagger requires or marks `x-omitempty: false` (keep_empty.py, generated from the swagger)."""

from __future__ import annotations

import runpy
from pathlib import Path

import yaml

from berth.api import schemas

ROOT = Path(__file__).resolve().parents[2]


def test_keep_empty_is_generated_from_the_current_swagger():
    render = runpy.run_path(str(ROOT / "scripts/harbor-keep-empty"))["render"]
    swagger = yaml.safe_load((ROOT / "tests/contract/harbor-swagger.yaml").read_text())
    current = (ROOT / "src/berth/api/keep_empty.py").read_text()
    assert current == render(swagger), "run scripts/harbor-keep-empty"


def test_empty_optional_fields_are_left_out_and_kept_ones_stay():
    user = schemas.UserResp(user_id=3, username="u", comment="", email="", sysadmin_flag=False,
                            admin_role_in_auth=False, creation_time="t", update_time="t")
    assert user.model_dump(mode="json") == {"user_id": 3, "username": "u", "sysadmin_flag": False,
                                            "admin_role_in_auth": False, "creation_time": "t", "update_time": "t"}
    assert schemas.JobQueue(job_type="GC", count=0, latency=0, paused=False).model_dump(mode="json") == {
        "job_type": "GC", "paused": False}
    assert schemas.JobQueue(job_type="GC", count=2, latency=5, paused=True).model_dump(mode="json") == {
        "job_type": "GC", "count": 2, "latency": 5, "paused": True}
    assert schemas.ResourceList(storage=0).model_dump(mode="json") == {"storage": 0}  # a swagger map: Go sends every entry


def test_a_present_nested_object_stays_even_when_empty_and_python_dumps_are_untouched():
    history = schemas.ExecHistory(id=1, job_name="n", job_kind="MANUAL", job_parameters="{}", job_status="",
                                  schedule=schemas.ScheduleObj(), creation_time="t", update_time="t")
    dumped = history.model_dump(mode="json")
    assert dumped["schedule"] == {} and "job_status" not in dumped
    assert history.model_dump()["job_status"] == ""  # only the wire format leaves fields out
