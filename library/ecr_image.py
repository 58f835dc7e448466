#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecr_image
short_description: Push an image archive to ECR through the ECR API, tag it, and gate it on size and scan
description:
  - Pushes an image archive written by C(docker save) (classic layout with C(manifest.json), or the OCI
    layout with C(index.json) that Docker 25+ writes) through the ECR API, with no Docker daemon
    (BatchCheckLayerAvailability, InitiateLayerUpload, UploadLayerPart, CompleteLayerUpload, PutImage).
  - Or promotes an image already in the repository (O(source_image)) by adding tags to its digest.
  - Layers already in the repository are not uploaded again. Pushing the same archive again makes no
    write call and reports C(changed=false).
  - Plain-tar layers are gzip-compressed (deterministically) before the upload unless
    O(compress_layers=false); the manifest says whether each layer is gzip or plain tar. A zero-byte
    layer is replaced by an empty gzip stream (ECR rejects empty uploads).
  - Order of writes on a new image - repository, layers, the tags that are not movable (the version),
    scan gate, then the movable tags (C(latest)). An image that fails the gate never gets C(latest).
  - The image is "already pushed" when the manifest stored under a tag has the same config digest (which
    names every layer's uncompressed content) and layer count; new tags then go on that stored
    manifest and nothing is uploaded. The digest is always the one the service returns.
options:
  repository:
    description: Repository name.
    required: true
    type: str
  archive:
    description: Path of the image archive on the controller. Mutually exclusive with O(source_image).
    type: path
  source_image:
    description: A tag or C(sha256:...) digest already in O(repository) to add O(tags) to (promote).
    type: str
  tags:
    description: Every tag that must point at the image.
    required: true
    type: list
    elements: str
  movable_tags:
    description: Tags that may move from another digest without O(force). Other tags (versions) may not.
    type: list
    elements: str
    default: [latest]
  force:
    description: Move a version tag that points at another digest.
    type: bool
    default: false
  platform:
    description:
      - C(os/architecture[/variant]) to pick from a multi-platform index; when set, a single-platform
        archive for another platform is refused. Without it a multi-platform index is refused.
    type: str
  max_size_gb:
    description: Size gate, in GiB, on the sum of the layer sizes the registry stores (compressed when the layers are).
    type: float
    default: 10
  scan:
    description: Run the scan gate.
    type: bool
    default: true
  fail_on_severity:
    description: Fail when any finding is at or above this severity.
    type: str
    default: CRITICAL
    choices: [CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL]
  scan_timeout:
    description: Seconds to wait for the scan to complete.
    type: int
    default: 900
  create_repository:
    description: Create the repository when it is absent.
    type: bool
    default: true
  image_tag_mutability:
    description: Tag mutability of the repository (set on create and kept).
    type: str
    default: MUTABLE
    choices: [MUTABLE, IMMUTABLE]
  scan_on_push:
    description: Scan on push setting of the repository (set on create and kept).
    type: bool
    default: true
  compress_layers:
    description:
      - gzip the layers that are plain tars in the archive (C(docker save) writes them so) before the upload,
        deterministically, as C(docker push) does. Lambda rejects uncompressed layers
        (C(UnsupportedImageLayerDetected)). V(false) pushes the archive's bytes as they are (an OCI
        manifest then verbatim).
    type: bool
    default: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - cutover.local.retries
author:
  - naver-sms cutover team (@naver-sms-ops)
"""

EXAMPLES = r"""
- name: Push the image archive with its version and latest
  cutover.local.ecr_image:
    repository: naver-sms-automation
    archive: /tmp/naver-sms-automation.tar
    tags: [v1.0.0, latest]
    platform: linux/amd64
  register: pushed

- name: Promote an image already in the repository
  cutover.local.ecr_image:
    repository: naver-sms-automation
    source_image: v1.0.0
    tags: [stable]
"""

RETURN = r"""
digest:
  description: Image digest as the service returned it (null in check mode before the first push).
  returned: always
  type: str
manifest_digest:
  description: sha256 of the manifest bytes (what AWS computes as the digest).
  returned: always
  type: str
size_bytes:
  description: Sum of the layer sizes in the manifest.
  returned: always
  type: int
tags:
  description: Tags that point at the image afterwards.
  returned: always
  type: list
  elements: str
image_uri:
  description: C(registry/repository@digest); null while the digest is not known (check mode before the first push).
  returned: always
  type: str
uploaded_layers:
  description: Digests uploaded (or that would be, in check mode).
  returned: always
  type: list
  elements: str
tagged:
  description: Tags this run put on the image (or would, in check mode); empty when all were there.
  returned: always
  type: list
  elements: str
repository_uri:
  description: C(registry/repository), null in check mode before the repository exists.
  returned: always
  type: str
scan:
  description: Scan status and counts by severity.
  returned: always
  type: dict
"""

import hashlib
import tempfile

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.waiter import custom_waiter_config

from ansible.module_utils.cutover.aws import InputError, finish, get_or_none, retry_decorator
from ansible.module_utils.cutover.image_archive import (
    ArchiveError,
    ImageArchive,
    manifest_identity,
    manifest_layer_bytes,
    upload_ranges,
)

SEVERITIES = ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
GIB = 1024 ** 3
SCAN_DONE = ("COMPLETE", "ACTIVE")  # ACTIVE: enhanced (continuous) scanning has a result
SCAN_RUNNING = ("IN_PROGRESS", "PENDING")


class GateError(InputError):
    """The image fails a gate or the input is wrong; nothing (more) is written."""


def sha256_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def describe_repository(client, name):
    found = get_or_none(client.describe_repositories, missing="RepositoryNotFoundException", repositoryNames=[name])
    return found["repositories"][0] if found else None


def images_by_tag(client, repository, tags):
    """{tag: {"digest", "manifest", "media_type"}} for the tags that exist (one lookup per tag: the
    response's imageId does not always echo the tag asked for)."""
    found = {}
    for tag in tags:
        image = image_by_id(client, repository, tag)
        if image:
            found[tag] = image
    return found


def image_by_id(client, repository, reference):
    key = "imageDigest" if reference.startswith("sha256:") else "imageTag"
    resp = client.batch_get_image(repositoryName=repository, imageIds=[{key: reference}], aws_retry=True)
    images = resp.get("images", [])
    if not images:
        return None
    return {"digest": images[0]["imageId"]["imageDigest"], "manifest": images[0]["imageManifest"],
            "media_type": images[0].get("imageManifestMediaType")}


def missing_layers(client, repository, digests):
    """Digests not reported AVAILABLE (moto omits missing ones; AWS lists them as failures)."""
    available = set()
    for start in range(0, len(digests), 100):
        resp = client.batch_check_layer_availability(repositoryName=repository,
                                                     layerDigests=digests[start:start + 100], aws_retry=True)
        available |= {l["layerDigest"] for l in resp.get("layers", []) if l.get("layerAvailability") == "AVAILABLE"}
    return [d for d in digests if d not in available]


def upload_blob(client, repository, archive, blob):
    upload = client.initiate_layer_upload(repositoryName=repository, aws_retry=True)
    upload_id, sha = upload["uploadId"], hashlib.sha256()
    with archive.open_blob(blob) as stream:
        for first, last in upload_ranges(blob.size, upload.get("partSize")):
            part = stream.read(last - first + 1)
            if len(part) != last - first + 1:
                raise GateError(f"archive ended inside blob {blob.digest}; the archive is corrupt, save the image again")
            sha.update(part)
            client.upload_layer_part(repositoryName=repository, uploadId=upload_id, partFirstByte=first,
                                     partLastByte=last, layerPartBlob=part, aws_retry=True)
    if "sha256:" + sha.hexdigest() != blob.digest:
        raise GateError(f"blob {blob.digest} in the archive hashes to sha256:{sha.hexdigest()}; "
                        "the archive is corrupt, save the image again")
    client.complete_layer_upload(repositoryName=repository, uploadId=upload_id, layerDigests=[blob.digest],
                                 aws_retry=True)


def put_tag(client, repository, manifest, media_type, tag):
    try:
        resp = client.put_image(repositoryName=repository, imageManifest=manifest.decode() if isinstance(
            manifest, bytes) else manifest, imageManifestMediaType=media_type, imageTag=tag, aws_retry=True)
        return resp["image"]["imageId"]["imageDigest"]
    except is_boto3_error_code("ImageAlreadyExistsException"):
        return image_by_id(client, repository, tag)["digest"]


def scan_findings(client, repository, digest, check_mode, timeout):
    """(status, counts); starts a scan only when none exists (never in check mode), then waits for it
    with botocore's image_scan_complete waiter."""
    target = {"repositoryName": repository, "imageId": {"imageDigest": digest}}
    resp = get_or_none(client.describe_image_scan_findings, missing="ScanNotFoundException", **target)
    if resp is None:
        if check_mode:
            return "NOT_STARTED", {}
        # LimitExceededException: a scan of this image already ran today; its result shows below
        get_or_none(client.start_image_scan, missing="LimitExceededException", **target)
    if resp is None or resp.get("imageScanStatus", {}).get("status") in SCAN_RUNNING:
        try:
            client.get_waiter("image_scan_complete").wait(WaiterConfig=custom_waiter_config(timeout), **target)
        except botocore.exceptions.WaiterError as exc:
            if "Max attempts exceeded" in str(exc):
                raise GateError(f"scan of {digest} did not complete within {timeout}s; rerun later "
                                "(the push is done)") from None
            # the waiter's failure state (FAILED): the status and its description are read below
        resp = client.describe_image_scan_findings(aws_retry=True, **target)
    status = resp.get("imageScanStatus", {}).get("status", "")
    if status not in SCAN_DONE:
        description = resp.get("imageScanStatus", {}).get("description", "")
        raise GateError(f"scan of {digest} ended with status {status} ({description}); the scan gate "
                        "cannot pass: fix the scan or set scan: false with a reason in the change ticket")
    return status, dict(resp.get("imageScanFindings", {}).get("findingSeverityCounts") or {})


def failing_counts(counts, threshold):
    level = SEVERITIES.index(threshold)
    return {sev: n for sev, n in counts.items() if sev in SEVERITIES[level:] and n}


def load_archive(params):
    """(archive, image) parsed before any AWS call; GateError when it cannot be pushed."""
    try:
        archive = ImageArchive(params["archive"])
        try:
            return archive, archive.image(params["platform"])
        except ArchiveError:
            archive.close()
            raise
    except ArchiveError as exc:
        raise GateError(str(exc)) from None


def ensure_image(module, client):
    params = module.params
    repository, tags = params["repository"], list(dict.fromkeys(params["tags"]))
    archive = image = found = None
    if params["archive"]:
        archive, image = load_archive(params)
    try:
        repo = describe_repository(client, repository)
        if repo is None and not params["create_repository"]:
            raise GateError(f"repository {repository} does not exist; create it or set create_repository: true")
        if image is None:
            reference = params["source_image"]
            found = image_by_id(client, repository, reference) if repo else None
            if not found:
                raise GateError(f"source_image {reference} does not exist in repository {repository}: "
                                "push it first or give an existing tag or digest")
        with tempfile.TemporaryDirectory(prefix="ecr-image-") as workdir:
            return _ensure_image(module, client, repo, tags, archive, image, found, workdir)
    finally:
        if archive is not None:
            archive.close()


def _ensure_image(module, client, repo, tags, archive, image, found, workdir):
    """Plan with reads only, then write (unless check mode); ``found`` is the promoted image."""
    params, check_mode = module.params, module.check_mode
    repository = params["repository"]
    ours = manifest_identity(image.manifest if image else found["manifest"])
    current = images_by_tag(client, repository, tags) if repo else {}
    to_tag = [t for t in tags if t not in current or manifest_identity(current[t]["manifest"]) != ours]
    existing = found or next((img for img in current.values() if manifest_identity(img["manifest"]) == ours), None)
    blobs = []
    if existing:  # the image is there: tag its stored manifest, upload nothing
        manifest, media_type, digest = existing["manifest"].encode(), existing["media_type"], existing["digest"]
        size_bytes = manifest_layer_bytes(manifest)
    else:
        if params["compress_layers"]:
            image = archive.compressed(image, workdir)
        manifest, media_type, digest = image.manifest, image.manifest_media_type, None
        size_bytes, blobs = image.size_bytes, image.blobs
    conflicts = [t for t in to_tag if t in current and t not in params["movable_tags"]]
    if conflicts and not params["force"]:
        raise GateError(", ".join(f"tag {t} already points at {current[t]['digest']}" for t in conflicts)
                        + f" in {repository}, another image (this archive is {digest or sha256_of(manifest)}); "
                        "a version tag does not move: bump the version, or set force: true to move it")
    if size_bytes > params["max_size_gb"] * GIB:
        raise GateError(f"image is {size_bytes} bytes ({size_bytes / GIB:.2f} GiB), over the {params['max_size_gb']} GiB "
                        "limit (max_size_gb); make the image smaller")

    repo_changes = {}
    if repo:
        if repo.get("imageTagMutability") != params["image_tag_mutability"]:
            repo_changes["image_tag_mutability"] = params["image_tag_mutability"]
        if bool(repo.get("imageScanningConfiguration", {}).get("scanOnPush")) != params["scan_on_push"]:
            repo_changes["scan_on_push"] = params["scan_on_push"]
    to_upload = []
    if blobs and to_tag:
        to_upload = missing_layers(client, repository, [b.digest for b in blobs]) if repo else [b.digest for b in blobs]

    before = {"repository": bool(repo), "tags": {t: current.get(t, {}).get("digest") for t in tags}}
    changed = bool(repo is None or repo_changes or to_tag)
    result = {"manifest_digest": sha256_of(manifest), "size_bytes": size_bytes, "uploaded_layers": to_upload,
              "tagged": to_tag}

    if not check_mode:
        if repo is None:
            repo = client.create_repository(
                repositoryName=repository, imageTagMutability=params["image_tag_mutability"],
                imageScanningConfiguration={"scanOnPush": params["scan_on_push"]}, aws_retry=True)["repository"]
        if "image_tag_mutability" in repo_changes:
            client.put_image_tag_mutability(repositoryName=repository, imageTagMutability=params["image_tag_mutability"],
                                            aws_retry=True)
        if "scan_on_push" in repo_changes:
            client.put_image_scanning_configuration(repositoryName=repository, aws_retry=True,
                                                    imageScanningConfiguration={"scanOnPush": params["scan_on_push"]})
        by_digest = {b.digest: b for b in blobs}
        for layer_digest in to_upload:
            upload_blob(client, repository, archive, by_digest[layer_digest])
        # movable tags (latest) only after the scan gate; a new image needs one tag to exist at all
        first = [t for t in to_tag if t not in params["movable_tags"]] or ([] if digest else to_tag[:1])
        for tag in first:
            digest = put_tag(client, repository, manifest, media_type, tag)
        to_tag = [t for t in to_tag if t not in first]

    scan = {"status": "SKIPPED", "counts": {}}
    if params["scan"] and digest:
        status, counts = scan_findings(client, repository, digest, check_mode, params["scan_timeout"])
        scan = {"status": status, "counts": counts}
        bad = failing_counts(counts, params["fail_on_severity"])
        if bad:
            raise GateError(
                f"image {digest} in {repository} has findings at or above {params['fail_on_severity']}: "
                + ", ".join(f"{n} {sev}" for sev, n in sorted(bad.items())) + f" (all: {counts}); "
                + "tags not moved: " + (", ".join(to_tag) or "none") + "; fix the image and push a new version")
    elif params["scan"] and check_mode:
        scan = {"status": "NOT_STARTED", "counts": {}}

    if not check_mode:
        for tag in to_tag:
            digest = put_tag(client, repository, manifest, media_type, tag)

    registry = (repo or {}).get("repositoryUri")
    result.update(
        changed=changed,
        digest=digest,
        tags=tags,
        image_uri=f"{registry}@{digest}" if registry and digest else None,
        repository_uri=registry,
        scan=scan,
    )
    if module._diff:
        result["diff"] = {"before": before, "after": {"repository": True,
                                                      "tags": {t: digest or result["manifest_digest"] for t in tags}}}
    return result


def main():
    argument_spec = dict(
        repository=dict(type="str", required=True),
        archive=dict(type="path"),
        source_image=dict(type="str"),
        tags=dict(type="list", elements="str", required=True),
        movable_tags=dict(type="list", elements="str", default=["latest"]),
        force=dict(type="bool", default=False),
        platform=dict(type="str"),
        max_size_gb=dict(type="float", default=10),
        scan=dict(type="bool", default=True),
        fail_on_severity=dict(type="str", default="CRITICAL", choices=SEVERITIES[::-1]),
        scan_timeout=dict(type="int", default=900),
        create_repository=dict(type="bool", default=True),
        image_tag_mutability=dict(type="str", default="MUTABLE", choices=["MUTABLE", "IMMUTABLE"]),
        scan_on_push=dict(type="bool", default=True),
        compress_layers=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[("archive", "source_image")],
        required_one_of=[("archive", "source_image")],
    )
    if not module.params["tags"]:
        module.fail_json(msg="tags is empty: give at least the version tag")
    client = module.client("ecr", retry_decorator=retry_decorator())
    finish(module, lambda: ensure_image(module, client), f"ECR call failed for repository {module.params['repository']}")


if __name__ == "__main__":
    main()
