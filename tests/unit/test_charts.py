"""Chart packages: values, README and dependencies, whatever Helm's chart API version."""

from __future__ import annotations

from berth.charts import chart_details
from tests.charts import chart_archive as package


def test_a_v1_chart_takes_its_dependencies_from_requirements_yaml():
    details = chart_details(package({
        "old/Chart.yaml": "apiVersion: v1\nname: old\nversion: 0.1.0\n",
        "old/requirements.yaml": "dependencies:\n  - name: pg\n    version: 1.0.0\n    alias: db\n",
        "old/readme.md": "lower case readme",
    }))
    assert details.dependencies == [{"name": "pg", "version": "1.0.0", "alias": "db"}]
    assert details.readme == "lower case readme" and details.values == ""


def test_what_is_not_a_chart_gives_empty_details():
    assert chart_details(b"not a tarball") == chart_details(b"")
    assert chart_details(package({"web/Chart.yaml": ": : not yaml"})).dependencies == []
