"""Parsing image archives and building the manifest to push (pure, no emulator)."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

import pytest

from module_utils.cutover.image_archive import (
    DOCKER_LAYER,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    EMPTY_GZIP,
    OCI_MANIFEST,
    ArchiveError,
    ImageArchive,
    manifest_identity,
    read_image,
    upload_ranges,
)
from rehearsal.image_archive import build_archive

MIB = 1024 * 1024


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob_bytes(archive_path, image, blob) -> bytes:
    with ImageArchive(archive_path) as archive, archive.open_blob(blob) as stream:
        return stream.read()


@pytest.mark.parametrize("layout", ["oci", "docker"])
@pytest.mark.parametrize("gzipped", [False, True])
def test_every_blob_digest_and_size_is_of_the_bytes_uploaded(tmp_path, layout, gzipped):
    path = build_archive(tmp_path / "img.tar", layout=layout, layers=[1000, 3000, 5000], gzipped=gzipped)
    image = read_image(str(path))
    assert image.layout == layout
    assert image.platform == "linux/amd64"
    assert len(image.layers) == 3
    for blob in image.blobs:
        data = _blob_bytes(str(path), image, blob)
        assert (_sha(data), len(data)) == (blob.digest, blob.size)
    manifest = json.loads(image.manifest)
    assert manifest["config"]["digest"] == image.config.digest
    assert [layer["digest"] for layer in manifest["layers"]] == [b.digest for b in image.layers]
    assert image.size_bytes == sum(layer["size"] for layer in manifest["layers"])


def test_layer_media_type_says_whether_the_bytes_are_gzip(tmp_path):
    plain = read_image(str(build_archive(tmp_path / "a.tar", layout="docker", layers=[100])))
    packed = read_image(str(build_archive(tmp_path / "b.tar", layout="docker", layers=[100], gzipped=True)))
    assert plain.manifest_media_type == DOCKER_MANIFEST
    assert [b.media_type for b in plain.layers] == [DOCKER_LAYER]
    assert [b.media_type for b in packed.layers] == [DOCKER_LAYER_GZIP]
    # an uncompressed layer's digest is the config's diff_id; a gzip one's is not
    config = json.loads(_blob_bytes(str(tmp_path / "b.tar"), packed, packed.config))
    assert packed.layers[0].digest != config["rootfs"]["diff_ids"][0]


def test_oci_manifest_is_pushed_verbatim(tmp_path):
    path = build_archive(tmp_path / "img.tar", layout="oci", layers=[100, 200])
    with tarfile.open(path) as tar:
        index = json.load(tar.extractfile("index.json"))
        digest = index["manifests"][0]["digest"]
        stored = tar.extractfile("blobs/sha256/" + digest.split(":")[1]).read()
    image = read_image(str(path))
    assert image.manifest == stored
    assert image.manifest_media_type == OCI_MANIFEST


def test_the_generator_is_deterministic_and_the_seed_changes_the_image(tmp_path):
    one = build_archive(tmp_path / "1.tar", layers=[5000], seed=3).read_bytes()
    two = build_archive(tmp_path / "2.tar", layers=[5000], seed=3).read_bytes()
    other = read_image(str(build_archive(tmp_path / "3.tar", layers=[5000], seed=4)))
    assert one == two
    assert manifest_identity(other.manifest) != manifest_identity(read_image(str(tmp_path / "1.tar")).manifest)


def test_multi_platform_index_is_refused_without_a_platform_and_says_which(tmp_path):
    path = str(build_archive(tmp_path / "multi.tar", layout="multi", layers=[100]))
    with ImageArchive(path) as archive:
        assert archive.platforms() == ["linux/amd64", "linux/arm64"]  # attestation ignored
    with pytest.raises(ArchiveError, match=r"multi-platform index \(linux/amd64, linux/arm64\).*platform"):
        read_image(path)
    amd, arm = read_image(path, "linux/amd64"), read_image(path, "linux/arm64")
    assert (amd.platform, arm.platform) == ("linux/amd64", "linux/arm64")
    assert amd.config.digest != arm.config.digest
    with pytest.raises(ArchiveError, match="no image for platform linux/s390x"):
        read_image(path, "linux/s390x")


def test_a_single_platform_image_for_another_platform_is_refused(tmp_path):
    path = str(build_archive(tmp_path / "arm.tar", layers=[100], arch="arm64"))
    assert read_image(path).platform == "linux/arm64"
    with pytest.raises(ArchiveError, match="no image for platform linux/amd64; it holds linux/arm64"):
        read_image(path, "linux/amd64")


def _tar_with(path, files: dict):
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: str(p / "absent.tar"), "does not exist"),
        (lambda p: (p / "x.tar").write_text("hello, not a tar\n" * 50) and str(p / "x.tar"), "is not a tar archive"),
        (lambda p: _tar_with(p / "x.tar", {"README": b"hi"}), "neither manifest.json nor index.json"),
        (lambda p: str(build_archive(p / "x.tar", layout="docker", layers=[10, 20], omit_layer=True)),
         r"layer 2 .* is not in the archive"),
        (lambda p: str(build_archive(p / "x.tar", layout="oci", layers=[10, 20], omit_layer=True)),
         r"layer 2 sha256:[0-9a-f]{64} named by the manifest is not in the archive"),
        (lambda p: _tar_with(p / "x.tar", {"manifest.json": b"{not json"}), "not valid JSON"),
        (lambda p: _tar_with(p / "x.tar", {"manifest.json": b"[]"}), "lists no image"),
    ],
    ids=["missing", "not-a-tar", "no-manifest", "classic-missing-layer", "oci-missing-layer", "bad-json", "empty"],
)
def test_bad_archives_are_refused_with_a_clear_message(tmp_path, make, message):
    with pytest.raises(ArchiveError, match=message):
        read_image(make(tmp_path))


def test_a_gzipped_archive_is_read_too(tmp_path):
    path = build_archive(tmp_path / "img.tar", layers=[100])
    packed = tmp_path / "img.tar.gz"
    packed.write_bytes(gzip.compress(path.read_bytes(), mtime=0))
    assert read_image(str(packed)).manifest == read_image(str(path)).manifest


def test_an_empty_layer_blob_is_replaced_by_an_empty_gzip_stream(tmp_path):
    config = json.dumps({"os": "linux", "architecture": "amd64",
                         "rootfs": {"type": "layers", "diff_ids": [_sha(b"")]}}).encode()
    path = _tar_with(tmp_path / "x.tar", {
        "c.json": config, "l/layer.tar": b"",
        "manifest.json": json.dumps([{"Config": "c.json", "Layers": ["l/layer.tar"]}]).encode(),
    })
    image = read_image(path)
    assert image.layers[0].digest == _sha(EMPTY_GZIP)
    assert gzip.decompress(_blob_bytes(path, image, image.layers[0])) == b""  # same diff_id


@pytest.mark.parametrize(
    "size, part, expected",
    [
        (0, 10 * MIB, []),
        (1, 10 * MIB, [(0, 0)]),
        (25 * MIB, 10 * MIB, [(0, 10 * MIB - 1), (10 * MIB, 20 * MIB - 1), (20 * MIB, 25 * MIB - 1)]),
        (12 * MIB, 1 * MIB, [(0, 5 * MIB - 1), (5 * MIB, 10 * MIB - 1), (10 * MIB, 12 * MIB - 1)]),
        (10, None, [(0, 9)]),
    ],
)
def test_upload_parts_use_the_service_size_never_under_5_mib_except_the_last(size, part, expected):
    assert upload_ranges(size, part) == expected
