"""Every Kubernetes manifest in deploy/kubernetes/ against the Kubernetes API's own
OpenAPI schemas (kubernetes-validate ships them, so nothing is downloaded), strictly: a
misspelt or misplaced field fails, as `kubectl apply --validate=strict` would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

KUBERNETES = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
# the oldest release still supported upstream when these were written; newer ones accept
# the same fields
VERSION = "1.31"


def manifests() -> list[tuple[str, dict[str, Any]]]:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    found = []
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((KUBERNETES / name).read_text()):
            if doc:
                found.append((f"{name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return found


@pytest.mark.parametrize(("where", "manifest"), manifests(), ids=lambda v: v
                         if isinstance(v, str) else "")
def test_manifest_is_valid_for_the_kubernetes_api(where: str, manifest: dict[str, Any]) \
        -> None:
    try:
        kubernetes_validate.validate(manifest, VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        pytest.fail(f"{where}: {error.message} at {list(error.path)}")


def test_the_validator_refuses_a_misplaced_field() -> None:
    """The check can fail: a field in the wrong place is caught."""
    deployment = next(m for _, m in manifests() if m["kind"] == "Deployment")
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["replicas"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSION, strict=True)
