"""ecr_image against the emulator over real HTTP: push, idempotence, gates, bad input."""
from __future__ import annotations

import json

import pytest

from module_utils.cutover.image_archive import read_image
from rehearsal.image_archive import build_archive
from tests.modules.ecr_helpers import REPO, operations, push, set_scan_findings

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    root = tmp_path_factory.mktemp("archives")
    # "oci" has a layer of 12 MiB (uploaded in two parts: the four steps); each push gzips it again, so the
    # tests that only need another image push "small", and the size gate a layer just over its 0.001 GiB
    return {
        "oci": build_archive(root / "oci.tar", layout="oci", layers=[12 * MIB, 4096]),
        "small": build_archive(root / "small.tar", layout="oci", layers=[4096, 2048], seed=5),
        "over_1mib": build_archive(root / "over.tar", layout="oci", layers=[MIB + MIB // 4], seed=6),
        "docker_gz": build_archive(root / "docker.tar", layout="docker", layers=[3000, 5000], gzipped=True, seed=2),
        "other": build_archive(root / "other.tar", layout="oci", layers=[4096], seed=9),
        "multi": build_archive(root / "multi.tar", layout="multi", layers=[2048]),
        "no_manifest": _plain_tar(root / "plain.tar"),
        "missing_layer": build_archive(root / "missing.tar", layout="docker", layers=[10, 20], omit_layer=True),
        "not_tar": _text(root / "notes.txt"),
    }


def _plain_tar(path):
    import io
    import tarfile

    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("README")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    return path


def _text(path):
    path.write_text("not an archive\n" * 100)
    return path


def test_four_steps_push_then_nothing_and_no_upload_on_rerun(proxy, aws, archives):
    image = read_image(str(archives["oci"]))

    check = push(proxy.url, archives["oci"], check=True, diff=True)
    assert check["changed"] and not check.get("failed"), check
    assert len(check["uploaded_layers"]) == 3  # two layers (gzipped first) and the config
    assert check["diff"]["before"]["tags"] == {"v1.0.0": None, "latest": None}
    assert operations(proxy, mutating_only=True) == []
    assert aws("ecr").describe_repositories()["repositories"] == []

    proxy.clear()
    applied = push(proxy.url, archives["oci"])
    assert applied["changed"] and not applied.get("failed"), applied
    assert applied["uploaded_layers"] == check["uploaded_layers"]
    parts = [c for c in proxy.calls() if c["operation"] == "UploadLayerPart"]
    assert len(parts) == 4  # 12 MiB layer in two parts (10 MiB as moto says + the rest), small layer, config
    stored = aws("ecr").describe_images(repositoryName=REPO)["imageDetails"]
    assert [(d["imageDigest"], sorted(d["imageTags"])) for d in stored] == [(applied["digest"], ["latest", "v1.0.0"])]
    assert applied["image_uri"] == f"123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/{REPO}@{applied['digest']}"
    assert applied["scan"]["status"] == "COMPLETE"
    manifest = json.loads(aws("ecr").batch_get_image(repositoryName=REPO, imageIds=[{"imageTag": "v1.0.0"}])
                          ["images"][0]["imageManifest"])
    assert manifest["config"]["digest"] == image.config.digest
    assert {layer["mediaType"] for layer in manifest["layers"]} == {"application/vnd.oci.image.layer.v1.tar+gzip"}
    assert applied["size_bytes"] == sum(layer["size"] for layer in manifest["layers"])
    repo = aws("ecr").describe_repositories(repositoryNames=[REPO])["repositories"][0]
    assert repo["imageScanningConfiguration"]["scanOnPush"] and repo["imageTagMutability"] == "MUTABLE"

    for check_mode in (True, False):
        proxy.clear()
        again = push(proxy.url, archives["oci"], check=check_mode)
        assert not again["changed"] and not again.get("failed"), again
        assert again["digest"] == applied["digest"] and again["uploaded_layers"] == []
        assert operations(proxy, mutating_only=True) == []


def test_without_compression_the_oci_manifest_is_pushed_verbatim(emulator, aws, archives):
    result = push(emulator, archives["other"], tags=["v1.0.0"], compress_layers=False)
    assert result["changed"] and not result.get("failed"), result
    got = aws("ecr").batch_get_image(repositoryName=REPO, imageIds=[{"imageTag": "v1.0.0"}])["images"][0]
    assert got["imageManifest"].encode() == read_image(str(archives["other"])).manifest
    # the same image compressed is "already pushed": a new tag goes on the stored manifest, no upload
    again = push(emulator, archives["other"], tags=["v1.0.0", "latest"])
    assert again["changed"] and again["uploaded_layers"] == [] and again["digest"] == result["digest"], again


def test_classic_layout_with_gzip_layers_is_pushed_and_idempotent(emulator, aws, archives):
    first = push(emulator, archives["docker_gz"], tags=["v2.0.0"])
    assert first["changed"] and not first.get("failed"), first
    manifest = json.loads(aws("ecr").batch_get_image(repositoryName=REPO, imageIds=[{"imageTag": "v2.0.0"}])
                          ["images"][0]["imageManifest"])
    assert {layer["mediaType"] for layer in manifest["layers"]} == {"application/vnd.docker.image.rootfs.diff.tar.gzip"}
    assert not push(emulator, archives["docker_gz"], tags=["v2.0.0"])["changed"]


def test_multi_platform_index_pushes_the_platform_chosen(emulator, aws, archives):
    result = push(emulator, archives["multi"], tags=["v1.0.0"], platform="linux/arm64")
    assert result["changed"] and not result.get("failed"), result
    config = json.loads(aws("ecr").batch_get_image(repositoryName=REPO, imageIds=[{"imageTag": "v1.0.0"}])
                        ["images"][0]["imageManifest"])["config"]
    assert config["digest"] == read_image(str(archives["multi"]), "linux/arm64").config.digest


def test_promote_adds_tags_to_an_image_already_there_and_only_once(emulator, aws, archives):
    pushed = push(emulator, archives["other"], tags=["v1.0.0"])
    args = {"repository": REPO, "source_image": "v1.0.0", "tags": ["stable"]}
    from tests.module_runner import run_module

    promoted = run_module("ecr_image", args, emulator)
    assert promoted["changed"] and promoted["digest"] == pushed["digest"], promoted
    assert not run_module("ecr_image", args, emulator)["changed"]
    details = aws("ecr").describe_images(repositoryName=REPO)["imageDetails"]
    assert sorted(details[0]["imageTags"]) == ["stable", "v1.0.0"]


def test_latest_moves_a_version_tag_only_with_force(emulator, aws, archives):
    push(emulator, archives["other"], tags=["v1.0.0", "latest"])
    moved = push(emulator, archives["small"], tags=["v1.0.1", "latest"])
    assert moved["changed"] and not moved.get("failed"), moved
    forced = push(emulator, archives["small"], tags=["v1.0.0"], force=True)
    assert forced["changed"] and not forced.get("failed"), forced
    tags = aws("ecr").batch_get_image(repositoryName=REPO, imageIds=[{"imageTag": "v1.0.0"}])["images"][0]
    assert tags["imageId"]["imageDigest"] == moved["digest"]


def test_push_survives_throttling_and_5xx(proxy, aws, archives):
    proxy.set_faults(rate=0.5, kinds=["throttle", "5xx"], seed=4, max_faults=3,
                     operations=["InitiateLayerUpload", "UploadLayerPart", "CompleteLayerUpload", "PutImage"])
    result = push(proxy.url, archives["docker_gz"], tags=["v1.0.0"])
    assert result["changed"] and not result.get("failed"), result
    assert sum(1 for c in proxy.calls() if c["fault"]) == 3
    assert aws("ecr").describe_images(repositoryName=REPO)["imageDetails"][0]["imageDigest"] == result["digest"]


def test_a_critical_finding_fails_the_gate_and_latest_does_not_move(proxy, aws, archives):
    set_scan_findings(proxy.state.upstream, {"CRITICAL": 1, "HIGH": 3})
    for attempt in (1, 2):  # the rerun must not move latest either, nor write anything
        proxy.clear()
        result = push(proxy.url, archives["small"])
        assert result.get("failed")
        assert "1 CRITICAL" in result["msg"] and "tags not moved: latest" in result["msg"], result["msg"]
        details = aws("ecr").describe_images(repositoryName=REPO)["imageDetails"]
        assert [d["imageTags"] for d in details] == [["v1.0.0"]]
    assert operations(proxy, mutating_only=True) == []


def test_high_findings_pass_a_critical_gate_and_fail_a_high_one(emulator, archives):
    set_scan_findings(emulator, {"HIGH": 2, "MEDIUM": 5})
    passed = push(emulator, archives["other"])
    assert not passed.get("failed") and passed["scan"]["counts"] == {"HIGH": 2, "MEDIUM": 5}, passed
    failed = push(emulator, archives["other"], fail_on_severity="HIGH")
    assert failed.get("failed") and "2 HIGH" in failed["msg"]


def test_an_image_already_pushed_with_a_new_critical_finding_fails_without_writing(proxy, archives):
    assert not push(proxy.url, archives["other"]).get("failed")
    set_scan_findings(proxy.state.upstream, {"CRITICAL": 2})  # a new canned result for the next read
    proxy.clear()
    result = push(proxy.url, archives["other"])
    assert result.get("failed"), result
    assert "2 CRITICAL" in result["msg"]
    assert operations(proxy, mutating_only=True) == []


@pytest.mark.parametrize(
    "case, extra, message",
    [
        ("missing", {"archive": "/nonexistent/image.tar"}, "does not exist"),
        ("not_tar", {}, "is not a tar archive"),
        ("no_manifest", {}, "neither manifest.json nor index.json"),
        ("missing_layer", {}, "layer 2 .* is not in the archive"),
        ("multi", {}, r"multi-platform index \(linux/amd64, linux/arm64\).*choose one with platform"),
        ("over_1mib", {"max_size_gb": 0.001}, "over the 0.001 GiB limit"),
    ],
)
def test_bad_archives_fail_clearly_without_any_call(proxy, archives, case, extra, message):
    import re

    args = {"archive": archives.get(case, archives["small"])}
    args.update(extra)
    result = push(proxy.url, args.pop("archive"), **args)
    assert result.get("failed") and re.search(message, result["msg"]), result["msg"]
    assert operations(proxy, mutating_only=True) == []


def test_version_tag_on_another_digest_and_unknown_source_tag_fail_without_writing(proxy, archives):
    from tests.module_runner import run_module

    there = push(proxy.url, archives["other"], tags=["v1.0.0"])
    assert not there.get("failed")
    proxy.clear()
    result = push(proxy.url, archives["small"], tags=["v1.0.0", "latest"])
    assert result.get("failed") and f"tag v1.0.0 already points at {there['digest']}" in result["msg"], result
    assert "bump the version, or set force: true" in result["msg"]
    promote = run_module("ecr_image", {"repository": REPO, "source_image": "v9.9.9", "tags": ["x1"]}, proxy.url)
    assert promote.get("failed") and "source_image v9.9.9 does not exist" in promote["msg"]
    assert operations(proxy, mutating_only=True) == []
    # the message also names the digest this archive pushes (AWS: sha256 of the manifest), so the operator can
    # tell the two builds apart
    pushed = push(proxy.url, archives["small"], tags=["v1.0.1"])
    assert pushed["manifest_digest"] != there["manifest_digest"]
    assert f"this archive is {pushed['manifest_digest']}" in result["msg"], result
