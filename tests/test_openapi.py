"""openapi.yaml is what the application serves; regenerate it with `make openapi`."""

from __future__ import annotations

from pathlib import Path

import yaml
from flask import Flask

SPEC = Path(__file__).resolve().parents[1] / "openapi.yaml"


def test_openapi_yaml_is_up_to_date(app: Flask):
    result = app.test_cli_runner().invoke(args=["openapi", "print", "--format=yaml"])
    assert result.exit_code == 0, result.output
    generated = yaml.safe_load(result.output)
    committed = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    assert generated == committed, "openapi.yaml drifted from the app: run `make openapi`"


def test_writes_tokens_and_peers_document_bearer_auth_and_other_reads_are_public():
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            admin_only = path.endswith("/tokens") or path.startswith("/api/v1/peers")
            if method in {"post", "patch", "delete"} or admin_only:
                assert operation.get("security") == [{"bearerAuth": []}], (method, path)
                assert {"401", "403"} <= set(operation["responses"]), (method, path)
            else:
                assert "security" not in operation, (method, path)
