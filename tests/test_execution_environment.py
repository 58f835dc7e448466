"""execution-environment.yml: ansible-builder accepts it and it carries what the project pins.

`ansible-builder create` writes the build context (Containerfile + _build/) without Docker or
podman; what it copies there is what the image installs.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COLLECTIONS = Path(yaml.__file__).resolve().parent.parent / "ansible_collections"


def pins(path: Path) -> dict[str, str]:
    """name (lower case) -> exact version of every `name==version` line."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {line!r} is not pinned with =="
            out[name.strip().lower()] = version.strip()
    return out


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    directory = tmp_path_factory.mktemp("ee-context")
    proc = subprocess.run(
        [str(BIN / "ansible-builder"), "create", "-f", "execution-environment.yml", "-c", str(directory),
         "--output-filename", "Containerfile"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return directory


def test_the_definition_is_valid_version_3(monkeypatch):
    # importing ansible_builder sets sys.tracebacklimit = 0 for the whole process (its exceptions module):
    # put it back after the test, so later tests in this worker still get tracebacks
    monkeypatch.setattr(sys, "tracebacklimit", getattr(sys, "tracebacklimit", 1000), raising=False)
    from ansible_builder.user_definition import UserDefinition

    definition = UserDefinition(str(PROJECT_DIR / "execution-environment.yml"))
    definition.validate()
    assert definition.version == 3
    assert definition.python_path == "/usr/bin/python3.11"


def test_the_image_installs_ansible_core_and_runner_at_the_pinned_versions(context):
    project = pins(PROJECT_DIR / "requirements.txt")
    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    refs = re.search(r'ARG ANSIBLE_INSTALL_REFS="([^"]*)"', containerfile).group(1).split()
    assert sorted(refs) == [f"ansible-core=={project['ansible-core']}", f"ansible-runner=={project['ansible-runner']}"]


def test_the_python_requirements_are_the_projects_runtime_pins(context):
    project = pins(PROJECT_DIR / "requirements.txt")
    copied = pins(context / "_build" / "requirements.txt")
    assert copied == pins(PROJECT_DIR / "requirements-ee.txt")
    assert {"boto3", "botocore"} <= set(copied)
    for name, version in copied.items():
        assert project.get(name) == version, f"{name}: {version} in the EE, {project.get(name)} in requirements.txt"
    # no test or lint tool in the image
    assert not {"moto", "pytest", "molecule", "ansible-lint", "ansible"} & set(copied)


def test_the_collections_are_requirements_yml_at_the_versions_the_tests_run(context):
    copied = yaml.safe_load((context / "_build" / "requirements.yml").read_text(encoding="utf-8"))
    assert copied == yaml.safe_load((PROJECT_DIR / "requirements.yml").read_text(encoding="utf-8"))
    wanted = {entry["name"]: entry["version"] for entry in copied["collections"]}
    assert set(wanted) == {"amazon.aws", "community.aws"}
    for name, version in wanted.items():
        namespace, collection = name.split(".")
        manifest = json.loads((COLLECTIONS / namespace / collection / "MANIFEST.json").read_text(encoding="utf-8"))
        assert version == f"=={manifest['collection_info']['version']}", f"{name}: EE {version}, the tests run {manifest['collection_info']['version']}"
