"""Every CI example (and action.yml) uses only keys its platform accepts, at every level the
examples use, so a typo ("artifact:", "run-on:", "with:" under a `run:` step's sibling) fails here
rather than on the platform. The key sets are the platforms' documented syntax:

- GitHub workflows: "Workflow syntax for GitHub Actions"
  (https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax).
- GitHub actions: "Metadata syntax reference"
  (https://docs.github.com/en/actions/reference/workflows-and-actions/metadata-syntax);
  composite steps accept run/shell/uses/with/name/id/if/env/working-directory/continue-on-error.
- GitLab CI: "CI/CD YAML syntax reference" (https://docs.gitlab.com/ci/yaml/).
- Kubernetes: the batch/v1 Job and core/v1 Pod API reference
  (https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/job-v1/).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest
import yaml
from gates_support import REPO

CI = REPO / "examples" / "ci"

GITHUB_WORKFLOW = {
    "name", "run-name", "on", "permissions", "env", "defaults", "concurrency", "jobs",
}  # fmt: skip
GITHUB_JOB = {
    "name", "permissions", "needs", "if", "runs-on", "environment", "concurrency", "outputs",
    "env", "defaults", "steps", "timeout-minutes", "strategy", "continue-on-error",
    "container", "services", "uses", "with", "secrets",
}  # fmt: skip
GITHUB_STEP = {
    "id", "if", "name", "uses", "run", "working-directory", "shell", "with", "env",
    "continue-on-error", "timeout-minutes",
}  # fmt: skip
GITHUB_STRATEGY = {"matrix", "fail-fast", "max-parallel"}
GITHUB_PERMISSIONS = {
    "actions", "attestations", "checks", "contents", "deployments", "id-token", "issues",
    "discussions", "packages", "pages", "pull-requests", "repository-projects",
    "security-events", "statuses", "models",
}  # fmt: skip
GITHUB_EVENTS = {
    "push", "pull_request", "pull_request_target", "schedule", "workflow_dispatch",
    "workflow_call", "workflow_run", "merge_group", "release",
}  # fmt: skip

ACTION = {"name", "author", "description", "inputs", "outputs", "runs", "branding"}
ACTION_INPUT = {"description", "required", "default", "deprecationMessage"}
ACTION_OUTPUT = {"description", "value"}
ACTION_RUNS = {"using", "steps"}
COMPOSITE_STEP = {
    "run", "shell", "uses", "with", "name", "id", "if", "env", "working-directory",
    "continue-on-error",
}  # fmt: skip
BRANDING = {"icon", "color"}

GITLAB_JOB = {
    "after_script", "allow_failure", "artifacts", "before_script", "cache", "coverage",
    "dast_configuration", "dependencies", "environment", "extends", "hooks", "id_tokens",
    "image", "inherit", "interruptible", "needs", "pages", "parallel", "release",
    "resource_group", "retry", "rules", "script", "secrets", "services", "stage", "tags",
    "timeout", "trigger", "variables", "when", "manual_confirmation", "identity",
}  # fmt: skip
GITLAB_ARTIFACTS = {
    "paths", "exclude", "expire_in", "expose_as", "name", "public", "access", "reports",
    "untracked", "when",
}  # fmt: skip
GITLAB_RULE = {"if", "changes", "exists", "when", "allow_failure", "needs", "variables"}

K8S_OBJECT = {"apiVersion", "kind", "metadata", "spec"}
K8S_JOB_SPEC = {
    "template", "parallelism", "completions", "completionMode", "backoffLimit",
    "backoffLimitPerIndex", "maxFailedIndexes", "activeDeadlineSeconds",
    "ttlSecondsAfterFinished", "suspend", "selector", "manualSelector", "podFailurePolicy",
    "podReplacementPolicy", "successPolicy", "managedBy",
}  # fmt: skip
K8S_POD_SPEC = {
    "containers", "initContainers", "volumes", "restartPolicy", "serviceAccountName",
    "nodeSelector", "affinity", "tolerations", "securityContext", "imagePullSecrets",
    "terminationGracePeriodSeconds", "activeDeadlineSeconds", "hostNetwork", "dnsPolicy",
}  # fmt: skip
K8S_CONTAINER = {
    "name", "image", "command", "args", "env", "envFrom", "volumeMounts", "workingDir",
    "resources", "securityContext", "imagePullPolicy", "ports",
}  # fmt: skip
K8S_VOLUME_MOUNT = {"name", "mountPath", "readOnly", "subPath"}
K8S_VOLUME = {"name", "configMap", "secret", "persistentVolumeClaim", "emptyDir"}
K8S_ENV = {"name", "value", "valueFrom"}


def load(name: str) -> list[dict]:
    return list(yaml.safe_load_all((CI / name).read_text(encoding="utf-8")))


def within(where: str, keys: Iterable[object], allowed: set[str]) -> None:
    # PyYAML reads the bare key `on` as True (YAML 1.1); GitHub reads it as "on".
    names = {"on" if key is True else str(key) for key in keys}
    unknown = names - allowed
    assert not unknown, f"{where}: keys the platform does not accept: {sorted(unknown)}"


def check_github_workflow(name: str, workflow: dict) -> None:
    within(name, workflow, GITHUB_WORKFLOW)
    within(f"{name}: on", workflow.get("on", workflow.get(True)), GITHUB_EVENTS)
    if "permissions" in workflow:
        within(f"{name}: permissions", workflow["permissions"], GITHUB_PERMISSIONS)
    for job_id, job in workflow["jobs"].items():
        where = f"{name}: jobs.{job_id}"
        within(where, job, GITHUB_JOB)
        within(f"{where}.permissions", job.get("permissions", {}), GITHUB_PERMISSIONS)
        within(f"{where}.strategy", job.get("strategy", {}), GITHUB_STRATEGY)
        for index, step in enumerate(job.get("steps", [])):
            within(f"{where}.steps[{index}]", step, GITHUB_STEP)
            # A step runs a command or uses an action, never both; `with` goes with `uses`.
            assert ("run" in step) != ("uses" in step), f"{where}.steps[{index}]"
            assert "with" not in step or "uses" in step, f"{where}.steps[{index}]"


def check_gitlab(name: str, document: dict) -> None:
    for job_id, job in document.items():
        where = f"{name}: {job_id}"
        within(where, job, GITLAB_JOB)
        within(f"{where}.artifacts", job.get("artifacts", {}), GITLAB_ARTIFACTS)
        within(f"{where}.artifacts.reports", job.get("artifacts", {}).get("reports", {}), {
            "junit", "sast", "codequality", "coverage_report", "dotenv", "metrics",
        })  # fmt: skip
        for index, rule in enumerate(job.get("rules", [])):
            within(f"{where}.rules[{index}]", rule, GITLAB_RULE)
        assert all(isinstance(line, str) for line in job["script"]), where


def check_kubernetes(name: str, document: dict) -> None:
    where = f"{name}: {document['kind']} {document['metadata']['name']}"
    within(where, document, K8S_OBJECT)
    assert (document["apiVersion"], document["kind"]) == ("batch/v1", "Job"), where
    spec = document["spec"]
    within(f"{where}.spec", spec, K8S_JOB_SPEC)
    pod = spec["template"]["spec"]
    within(f"{where}.spec.template.spec", pod, K8S_POD_SPEC)
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        cwhere = f"{where} container {container['name']}"
        within(cwhere, container, K8S_CONTAINER)
        for mount in container.get("volumeMounts", []):
            within(f"{cwhere}.volumeMounts", mount, K8S_VOLUME_MOUNT)
        for env in container.get("env", []):
            within(f"{cwhere}.env", env, K8S_ENV)
    for volume in pod.get("volumes", []):
        within(f"{where}.volumes", volume, K8S_VOLUME)


@pytest.mark.parametrize("path", sorted(CI.iterdir()), ids=lambda p: p.name)
def test_example_uses_only_accepted_keys(path: Path) -> None:
    documents = load(path.name)
    if path.name.startswith("github"):
        (workflow,) = documents
        check_github_workflow(path.name, workflow)
    elif path.name.startswith("gitlab"):
        (document,) = documents
        check_gitlab(path.name, document)
    elif path.name.startswith("k8s"):
        assert len(documents) == 2
        for document in documents:
            check_kubernetes(path.name, document)
    else:
        pytest.fail(f"{path.name}: no key set for this platform; add one")


def test_action_uses_only_accepted_keys() -> None:
    action = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
    within("action.yml", action, ACTION)
    assert {"name", "description", "runs"} <= set(action)
    within("action.yml: branding", action.get("branding", {}), BRANDING)
    for input_id, spec in action["inputs"].items():
        within(f"action.yml: inputs.{input_id}", spec, ACTION_INPUT)
        assert "description" in spec
    for output_id, spec in action["outputs"].items():
        within(f"action.yml: outputs.{output_id}", spec, ACTION_OUTPUT)
    within("action.yml: runs", action["runs"], ACTION_RUNS)
    assert action["runs"]["using"] == "composite"
    for index, step in enumerate(action["runs"]["steps"]):
        within(f"action.yml: runs.steps[{index}]", step, COMPOSITE_STEP)
        # A composite `run:` step must name its shell (metadata syntax, runs.steps[*].shell).
        assert "run" not in step or "shell" in step, index


def test_every_input_the_examples_pass_is_declared() -> None:
    declared = set(yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))["inputs"])
    for path in sorted(CI.glob("github*.yml")):
        (workflow,) = load(path.name)
        for job in workflow["jobs"].values():
            for step in job["steps"]:
                if "/fwcheck@" in str(step.get("uses", "")):
                    assert set(step.get("with", {})) <= declared, path.name


def test_key_sets_catch_a_typo(tmp_path: Path) -> None:
    (workflow,) = load("github-actions.yml")
    workflow["jobs"]["fwcheck"]["run-on"] = workflow["jobs"]["fwcheck"].pop("runs-on")
    with pytest.raises(AssertionError, match="run-on"):
        check_github_workflow("typo", workflow)
    (job,) = load("gitlab-ci.yml")
    job["fwcheck"]["artifact"] = job["fwcheck"].pop("artifacts")
    with pytest.raises(AssertionError, match="artifact"):
        check_gitlab("typo", job)
