"""examples/ci/github-shards.yml and k8s-indexed-job.yaml: the shards cover 1..N, every fwcheck
command line in them is accepted by fwcheck's own argument parser, and the merge reads exactly
the files the shards write."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from checker.cli import build_parser

CI = Path(__file__).resolve().parents[2] / "examples" / "ci"


def fwcheck_lines(text: str) -> list[list[str]]:
    joined = text.replace("\\\n", " ")
    commands = []
    for line in joined.splitlines():
        start = line.find("fwcheck ")
        # `pip install "fwcheck @ git+..."` installs fwcheck; it is no fwcheck command.
        if start < 0 or line.lstrip().startswith("#") or "pip install" in line:
            continue
        words = shlex.split(line[start:].split(" || ")[0])
        commands.append(words[1:])
    return commands


def test_github_matrix_shards_and_merge_agree() -> None:
    workflow = yaml.safe_load((CI / "github-shards.yml").read_text())
    count = int(workflow["env"]["SHARDS"])
    scan = workflow["jobs"]["scan"]
    assert scan["strategy"]["matrix"]["shard"] == list(range(1, count + 1))
    assert scan["strategy"]["fail-fast"] is False
    (scan_run,) = [s["run"] for s in scan["steps"] if "fwcheck scan" in s.get("run", "")]
    filled = scan_run.replace("${{ matrix.shard }}", "3").replace("${{ env.SHARDS }}", str(count))
    (argv,) = fwcheck_lines(filled)
    args = build_parser().parse_args(argv)
    assert args.shard == f"3/{count}" and args.no_history and args.json == "shard-3.json"
    merge = workflow["jobs"]["merge"]
    assert merge["needs"] == "scan" and "!cancelled()" in merge["if"]
    (merge_run,) = [s["run"] for s in merge["steps"] if "fwcheck merge" in s.get("run", "")]
    (argv,) = fwcheck_lines(merge_run)
    args = build_parser().parse_args(argv)
    assert args.reports == ["shards/shard-*.json"] and args.sarif == "reports/fleet.sarif"
    download = next(s for s in merge["steps"] if "download-artifact" in s.get("uses", ""))
    assert download["with"]["path"] == "shards"
    upload = next(s for s in merge["steps"] if "upload-sarif" in s.get("uses", ""))
    assert upload["with"]["sarif_file"] == args.sarif


def test_kubernetes_indexed_job_shards_and_merge_agree() -> None:
    text = (CI / "k8s-indexed-job.yaml").read_text()
    scan_job, merge_job = yaml.safe_load_all(text)
    spec = scan_job["spec"]
    assert spec["completionMode"] == "Indexed"
    count = spec["completions"]
    (container,) = spec["template"]["spec"]["containers"]
    script = container["args"][0]
    (argv,) = fwcheck_lines(script)
    args = build_parser().parse_args([a.replace("$K", "1") for a in argv])
    assert args.shard == f"1/{count}" and args.no_history
    assert "K=$((JOB_COMPLETION_INDEX + 1))" in script  # indexes are 0-based, shards 1-based
    merge_spec = merge_job["spec"]["template"]["spec"]
    wait = merge_spec["initContainers"][0]["args"][0]
    assert re.search(rf"-ge {count}\b", wait)
    (merge_argv,) = fwcheck_lines(merge_spec["containers"][0]["args"][0])
    merge_args = build_parser().parse_args(merge_argv)
    assert merge_args.command == "merge" and merge_args.reports == ["/reports/shard-*.json"]
    assert merge_args.history == "/reports/history.sqlite"
