"""Harbor's scan data export rules: doublestar patterns, the request's checks, artifact selection and
the CSV's cells (berth.scan.globs, berth.scan.export)."""

from __future__ import annotations

import csv
import io

import pytest

from berth.scan.export import (
    COLUMNS,
    SCAN_DATA_TYPE,
    ArtifactFacts,
    Criteria,
    CriteriaInvalid,
    Row,
    check_request,
    csv_lines,
    neutralize,
    repository_matcher,
    select_artifacts,
)
from berth.scan.globs import GlobInvalid, compile_glob


@pytest.mark.parametrize(("pattern", "name", "matches"), [
    ("", "anything/at/all", True),
    ("nginx", "nginx", True),
    ("nginx", "nginx2", False),
    ("ngi*", "nginx", True),
    ("*", "team/app", False),  # one star stays within a segment
    ("team/*", "team/app", True),
    ("**", "team/app/x", True),
    ("team/**/x", "team/x", True),
    ("team/**/x", "team/a/b/x", True),
    ("{nginx,redis}", "redis", True),
    ("{nginx,redis}", "postgres", False),
    ("{CVE-2021-1,CVE-2022-*}", "CVE-2022-27449", True),
    ("v1.?", "v1.2", True),
    ("v1.?", "v1.22", False),
    ("v[0-9]", "v7", True),
    ("v[!0-9]", "v7", False),
    ("v[!0-9]", "vx", True),
    ("a.b", "aXb", False),  # a dot is literal
    ("CVE-2021-1,CVE-2021-2", "CVE-2021-1", False),  # a comma outside braces is literal, as in Harbor
    (r"\*", "*", True),
])
def test_doublestar_patterns_match_as_harbors_selectors(pattern, name, matches):
    assert compile_glob(pattern)(name) is matches


@pytest.mark.parametrize("pattern", ["[abc", "{a,b", "trailing\\"])
def test_malformed_patterns_are_refused(pattern):
    with pytest.raises(GlobInvalid):
        compile_glob(pattern)


def test_repository_pattern_is_matched_without_the_project():
    matches = repository_matcher("app*")
    assert matches("team/app1") and not matches("team/lib/app1") and not matches("app/other")
    assert repository_matcher("lib/**")("team/lib/a/b")


def test_a_valid_request_becomes_criteria():
    criteria = check_request(SCAN_DATA_TYPE, [7], job_name="weekly", labels=[3, 3, 4], repositories="{a,b}",
                             cve_ids="CVE-*", tags="v1*")
    assert criteria == Criteria(7, "weekly", (3, 4), "{a,b}", "CVE-*", "v1*")
    assert Criteria.from_parameters(criteria.as_parameters()) == criteria


@pytest.mark.parametrize(("data_type", "projects", "fields", "message"), [
    ("application/json", [1], {}, "Unsupported MIME type : application/json"),
    (None, [1], {}, "Unsupported MIME type : "),
    (SCAN_DATA_TYPE, [], {}, "only support export single project, invalid value: []"),
    (SCAN_DATA_TYPE, [1, 2], {}, "only support export single project, invalid value: [1, 2]"),
    (SCAN_DATA_TYPE, None, {}, "only support export single project"),
    (SCAN_DATA_TYPE, [1], {"tags": "v1, v2"}, "please remove additional spaces for input: v1, v2"),
    (SCAN_DATA_TYPE, [1], {"cve_ids": "{CVE-1"}, "cveIds: invalid pattern"),
])
def test_requests_are_refused_with_harbors_message(data_type, projects, fields, message):
    with pytest.raises(CriteriaInvalid) as refused:
        check_request(data_type, projects, **fields)
    assert message in str(refused.value)


def test_tag_filter_keeps_matching_and_untagged_artifacts_as_harbor_does():
    artifacts = [ArtifactFacts(1, ("v1.0",), frozenset()), ArtifactFacts(2, ("v2.0",), frozenset()),
                 ArtifactFacts(3, (), frozenset())]
    assert select_artifacts(artifacts, "v1*", []) == {1, 3}
    assert select_artifacts(artifacts, "", []) == {1, 2, 3}


def test_label_filter_keeps_artifacts_with_any_label_and_an_index_takes_its_children():
    artifacts = [ArtifactFacts(1, ("multi",), frozenset({9}), children=(2, 3)), ArtifactFacts(2, (), frozenset()),
                 ArtifactFacts(3, (), frozenset()), ArtifactFacts(4, ("v1",), frozenset({8}))]
    assert select_artifacts(artifacts, "", [9]) == {1, 2, 3}
    assert select_artifacts(artifacts, "", [8, 9]) == {1, 2, 3, 4}
    assert select_artifacts(artifacts, "v*", [9]) == set()


@pytest.mark.parametrize(("cell", "written"), [
    ("=cmd|'/c calc'!A1", "'=cmd|'/c calc'!A1"), ("+1+1", "'+1+1"), ("-2+3", "'-2+3"), ("@evil/pkg", "'@evil/pkg"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("\nx", "'\nx"), ("libssl1.1", "libssl1.1"), ("CVE-2025-0001", "CVE-2025-0001"),
    ("", ""),
])
def test_cells_that_would_be_formulas_are_neutralized_as_harbor_does(cell, written):
    assert neutralize(cell) == written


def test_csv_has_harbors_header_then_one_line_per_finding():
    rows = [Row("team/app", "sha256:1", "CVE-1", "@scope/pkg", "1.0", "1.1", "High", "CWE-79,CWE-80",
                '{"a": 1}', "Trivy")]
    text = csv_lines(rows, header=True).decode()
    assert text.splitlines()[0] == ("Repository,Artifact Digest,CVE,Package,Current Version,Fixed in version,"
                                    "Severity,CWE Ids,Additional Data,Scanner")
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == list(COLUMNS)
    assert parsed[1] == ["team/app", "sha256:1", "CVE-1", "'@scope/pkg", "1.0", "1.1", "High", "CWE-79,CWE-80",
                         '{"a": 1}', "Trivy"]
    assert not csv_lines(rows, header=False).decode().startswith("Repository")
