"""JSON report version 2 and `fwcheck merge`: the shipped schema describes every example run,
merge reads requirements and outcomes back from fields (no text parsing) and equals the
unsharded run, version 1 reports (committed fixtures written by fwcheck before version 2) still
merge, and any mutated report gives a one-line usage error naming the file, never a traceback."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker import resources
from checker.cli import main
from checker.errors import UsageError
from checker.fleet import merge as fleet_merge
from checker.fleet.merge import merge_reports
from checker.reports import json_fields

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
DATA = Path(__file__).resolve().parent / "data"
V1_SHARDS = [DATA / "report-v1-shard-a.json", DATA / "report-v1-shard-b.json"]
SHARD_A = {"web-1", "app-1", "patch-client-17", "ufw-gw"}


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads(resources.schema_path(name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _config(tmp: Path, name: str, keep: set[str] | None) -> Path:
    """examples/fwcheck.yaml in `tmp` (beside a link to examples/, so every config cites the
    same files), keeping the targets named in `keep` (None: all)."""
    link = tmp / "examples"
    if not link.exists():
        link.symlink_to(EXAMPLES)
    document = yaml.safe_load((EXAMPLES / "fwcheck.yaml").read_text())
    document["policies"] = [f"examples/{p}" for p in document["policies"]]
    targets = [t for t in document["targets"] if keep is None or t["name"] in keep]
    for target in targets:
        target["files"] = [f"examples/{f}" for f in target["files"]]
    document["targets"] = targets
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _check(tmp: Path, name: str, keep: set[str] | None) -> Path:
    out = tmp / f"{name}.json"
    code = main(["check", "--config", str(_config(tmp, name, keep)), "--json", str(out), "-q"])
    assert code == 1  # the examples hold failures on purpose
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("v2")
    everything = {
        t["name"] for t in yaml.safe_load((EXAMPLES / "fwcheck.yaml").read_text())["targets"]
    }
    return {
        "whole": _check(tmp, "whole", None),
        "a": _check(tmp, "a", SHARD_A),
        "b": _check(tmp, "b", everything - SHARD_A),
    }


def test_every_example_run_validates_against_the_v2_schema(runs: dict[str, Path]) -> None:
    validator = _validator("report.schema.json")
    document = json.loads(runs["whole"].read_text())
    validator.validate(document)
    assert document["version"] == 2
    # Every flow rule carries its requirement as fields; settings rules their `setting`.
    for rule in document["rules"]:
        assert (rule["requirement"] is None) == (rule["setting"] is not None)
    # Every engine result carries an outcome whose status is the result's.
    assert all(r["outcome"]["status"] == r["status"] for r in document["results"])
    platforms = {t["name"]: t["platform"] for t in document["targets"]}
    codes = {(platforms[r["target"]], r["outcome"]["reason"]["code"]) for r in document["results"]}
    assert ("netfilter", "netfilter.accepted") in codes
    assert ("netfilter", "netfilter.not-accepted") in codes
    assert ("windows", "windows.blocked-by-rule") in codes
    failing = [r for r in document["results"] if r["status"] == "fail"]
    # A flow failure names its flow as fields, the same flow the counterexample writes.
    for result in failing:
        flow = result["outcome"]["flow"]
        if flow is not None:
            assert flow["text"] == result["counterexample"]
            assert flow["source"] in flow["text"] or flow["remote_set"]
    telnet = next(r for r in failing if (r["target"], r["rule"]) == ("bastion", "no-telnet"))
    assert telnet["outcome"]["flow"] == {
        "family": 4,
        "protocol": 6,
        "source": "203.0.113.7",
        "destination": "192.0.2.10",
        "source_port": 40000,
        "destination_port": 23,
        "icmp_type": None,
        "icmp_code": None,
        "interface": None,
        "profile": None,
        "program": None,
        "service": None,
        "package": None,
        "remote_set": None,
        "text": "tcp 203.0.113.7:40000 -> 192.0.2.10:23 ipv4",
    }
    assert telnet["evidence"][0]["chain"] == "LEGACY"
    assert telnet["evidence"][0]["table"] == "ip filter"


def test_merge_of_v2_shards_equals_the_unsharded_run(runs: dict[str, Path], tmp_path: Path) -> None:
    merged = tmp_path / "merged.json"
    assert (
        main(["merge", str(runs["a"]), str(runs["b"]), "--no-history", "--json", str(merged), "-q"])
        == 1
    )
    whole = json.loads(runs["whole"].read_text())
    document = json.loads(merged.read_text())
    _validator("report.schema.json").validate(document)
    order = [t["name"] for t in whole["targets"]]
    key = lambda r: order.index(r["target"]) if r["target"] in order else -1  # noqa: E731
    assert sorted(document["results"], key=key) == sorted(whole["results"], key=key)
    assert sorted(document["rules"], key=lambda r: r["id"]) == sorted(
        whole["rules"], key=lambda r: r["id"]
    )
    assert document["summary"] == whole["summary"]
    # Every rule read back, the exclusive one too (version 1 could not describe it back).
    assert document["notes"] == []


def test_v2_requirements_read_back_exactly(runs: dict[str, Path]) -> None:
    for rule in json.loads(runs["whole"].read_text())["rules"]:
        requirement = json_fields.requirement_from_rule(rule)
        assert requirement.key == rule["id"]
        assert json_fields.requirement_to_json(requirement) == rule["requirement"]


def test_v1_reports_still_merge(tmp_path: Path) -> None:
    """The fixtures were written by fwcheck 0.2.0 before report version 2 (commit abc3fa0)."""
    validator = _validator("report-v1.schema.json")
    shards = [json.loads(p.read_text()) for p in V1_SHARDS]
    for shard in shards:
        validator.validate(shard)
        assert shard["version"] == 1
    merged = merge_reports(V1_SHARDS)
    findings = merged.report.findings
    assert [(f.target, f.rule, f.status.value, f.message, f.counterexample) for f in findings] == [
        (r["target"], r["rule"], r["status"], r["message"], r["counterexample"])
        for shard in shards
        for r in shard["results"]
    ]
    assert all(f.outcome is None for f in findings)  # v1 has no outcome; none is invented
    # Requirements come back from the v1 sentences, except the exclusive rule's.
    rules = {r["id"] for shard in shards for r in shard["rules"]}
    read = {r.key for r in merged.report.requirements}
    assert rules - read == {"web-server/exclusive-inbound"}
    out = tmp_path / "m.json"
    code = main(["merge", *map(str, V1_SHARDS), "--no-history", "--json", str(out), "-q"])
    assert code == 1
    document = json.loads(out.read_text())
    _validator("report.schema.json").validate(document)  # written as version 2
    assert document["summary"] == {
        key: sum(shard["summary"][key] for shard in shards) for key in document["summary"]
    }


def test_mixed_v1_and_v2_shards_merge(runs: dict[str, Path]) -> None:
    merged = merge_reports([V1_SHARDS[0], runs["b"]])
    by_target = {f.target: f.outcome is not None for f in merged.report.findings}
    assert by_target["web-1"] is False and by_target["bastion"] is True


def test_unknown_version_is_named(tmp_path: Path) -> None:
    document = json.loads(V1_SHARDS[0].read_text())
    document["version"] = 3
    path = tmp_path / "future.json"
    path.write_text(json.dumps(document))
    with pytest.raises(UsageError, match="version 3 is not one this fwcheck reads"):
        merge_reports([path])


# --- mutated reports: one line naming the file, never a traceback --------------------------


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            found += _paths(v, (*prefix, i))
    return found


_REPLACEMENTS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.text(max_size=12),
    st.sampled_from(["10.0.0.0/33", "fe80::1-10.0.0.1", "tcp", "", "inbound", "waived", "x" * 400]),
    st.lists(st.integers(-5, 70000), max_size=3),
    st.just({}),
    st.just([]),
)


def _small_v2(whole: Path) -> dict[str, Any]:
    document = json.loads(whole.read_text())
    results = [r for r in document["results"] if r["target"] in ("bastion", "patch-client-17")]
    keep = {r["policy"] + "/" + r["rule"] for r in results}
    document["results"] = [r for r in results if r["status"] != "pass"][:6] + results[:2]
    document["rules"] = [r for r in document["rules"] if r["id"] in keep][:8]
    document["targets"] = [
        t for t in document["targets"] if t["name"] in ("bastion", "patch-client-17")
    ]
    return document


@pytest.fixture(scope="module")
def small_reports(runs: dict[str, Path]) -> list[dict[str, Any]]:
    return [_small_v2(runs["whole"]), json.loads(V1_SHARDS[1].read_text())]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_mutated_reports_give_one_line_naming_the_file(
    small_reports: list[dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
    data: st.DataObject,
) -> None:
    document = copy.deepcopy(data.draw(st.sampled_from(small_reports)))
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(document)
        path = data.draw(st.sampled_from(paths))
        action = data.draw(st.sampled_from(["replace", "delete"]))
        if not path:
            document = data.draw(_REPLACEMENTS)
            continue
        parent: Any = document
        for step in path[:-1]:
            parent = parent[step]
        if action == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(_REPLACEMENTS)
    folder = tmp_path_factory.mktemp("mutated")
    report = folder / "shard.json"
    report.write_text(json.dumps(document))
    capsys.readouterr()
    code = main(["merge", str(report), "--no-history", "--json", str(folder / "out.json"), "-q"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err, captured.err[-1500:]
    if code == 2:
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and str(report) in lines[0], captured.err
    else:
        # A mutation the schema allows (another message, a changed count) merges.
        assert code in (0, 1, 3), captured.err
        _validator("report.schema.json").validate(json.loads((folder / "out.json").read_text()))


def test_schema_names_for_each_version() -> None:
    assert fleet_merge.SCHEMAS == {1: "report-v1.schema.json", 2: "report.schema.json"}
    for name in fleet_merge.SCHEMAS.values():
        _validator(name)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("remote", ["10.0.0.0/33"], "does not read back: ValueError"),
        ("remote", ["10.0.0.9-10.0.0.1"], "not an address range"),
        ("remote", ["10.0.0.1-2001:db8::1"], "not an address range"),
        ("ports", [[90, 80]], "not a port range"),
        ("families", [], "not an fwcheck JSON report"),
    ],
)
def test_v2_fields_that_do_not_read_back_name_the_file_and_rule(
    runs: dict[str, Path], tmp_path: Path, field: str, value: object, expected: str
) -> None:
    document = json.loads(runs["a"].read_text())
    rule = next(r for r in document["rules"] if r["requirement"] is not None)
    rule["requirement"][field] = value
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(UsageError) as caught:
        merge_reports([path])
    (problem,) = caught.value.problems
    assert problem.file == str(path) and expected in problem.message
    if "read back" in expected or "range" in expected:
        assert f"rule {rule['id']}" in problem.message


@pytest.mark.parametrize("version", [{}, [], True, "2", 3])
def test_a_version_that_is_no_number_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], version: object
) -> None:
    """`{"version": {}}` raised TypeError (unhashable) in the lookup of the schema: a bug exit."""
    report = tmp_path / "shard.json"
    report.write_text(json.dumps({"version": version}))
    assert main(["merge", str(report), "--no-history", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(report) in err[0]
