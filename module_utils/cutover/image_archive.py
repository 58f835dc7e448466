"""Read an image archive as `docker save` writes it, and build the manifest to push.

Pure core: no boto3, no Ansible. Two layouts are accepted:

* OCI layout (Docker 25+): ``oci-layout`` + ``index.json`` + ``blobs/sha256/<hex>``.
  The image manifest stored in the archive is pushed verbatim, so the digest
  the registry computes is the one ``docker`` reports. An index that holds
  several platforms is refused unless ``platform`` selects one (attestation
  manifests, platform ``unknown/unknown``, are ignored).
* Classic layout (Docker < 25): ``manifest.json`` + config + layer tars. A
  Docker v2 schema2 manifest is built.

Layers are pushed as the bytes in the archive, or gzip-compressed first when
they are plain tars (``compress_layers``; Lambda rejects uncompressed layers
with UnsupportedImageLayerDetected): the manifest digest of a layer is the
sha256 of exactly the bytes uploaded and its media type says whether they are
gzip-compressed or a plain tar. Compression is deterministic (mtime 0, level
6), so the same archive gives the same digests. Two manifests are the same
image when their config digest (which names every layer's uncompressed
diff_id) and layer count match: see ``manifest_identity``. A zero-byte layer blob cannot be uploaded to
ECR (it rejects empty parts); it is replaced by the gzip stream of nothing,
which decompresses to the same (empty) content, so the config's diff_id still
holds.

The archive is read with :mod:`tarfile` member by member; layers are never
loaded into memory (``open_blob`` returns a stream).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import posixpath
import tarfile
from dataclasses import dataclass, field

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
GZIP_OF = {DOCKER_LAYER: DOCKER_LAYER_GZIP, OCI_LAYER: OCI_LAYER_GZIP}
GZIP_LEVEL = 6

MANIFEST_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEX_TYPES = (DOCKER_MANIFEST_LIST, OCI_INDEX)
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# gzip of zero bytes, fixed header (mtime 0): what an empty layer becomes.
EMPTY_GZIP = gzip.compress(b"", compresslevel=9, mtime=0)
CHUNK = 1024 * 1024


class ArchiveError(ValueError):
    """The archive cannot be pushed; the message says why and what to do."""


@dataclass(frozen=True)
class Blob:
    """One blob to upload: config or layer."""

    digest: str
    size: int
    media_type: str
    member: str  # tar member name ("" when ``content`` or ``path`` replaces it)
    content: bytes | None = None  # bytes to upload instead of the member (empty-layer substitute)
    path: str | None = None  # a file to upload instead of the member (compressed layer)

    def as_descriptor(self) -> dict:
        return {"mediaType": self.media_type, "size": self.size, "digest": self.digest}


@dataclass
class PlatformImage:
    """One single-platform image, ready to push."""

    layout: str  # "oci" | "docker"
    platform: str  # os/architecture[/variant]
    manifest: bytes  # the exact bytes to PutImage
    manifest_media_type: str
    config: Blob
    layers: list[Blob] = field(default_factory=list)
    repo_tags: list[str] = field(default_factory=list)

    @property
    def size_bytes(self) -> int:
        """What the registry stores for the layers (the size gate counts these)."""
        return sum(layer.size for layer in self.layers)

    @property
    def uncompressed_layers(self) -> list[Blob]:
        return [layer for layer in self.layers if layer.media_type in GZIP_OF]

    @property
    def blobs(self) -> list[Blob]:
        """Layers first, then config (distinct digests, in upload order)."""
        seen, out = set(), []
        for blob in [*self.layers, self.config]:
            if blob.digest not in seen:
                seen.add(blob.digest)
                out.append(blob)
        return out


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def platform_string(os_name: str, arch: str, variant: str | None = None) -> str:
    return "/".join(p for p in (os_name or "unknown", arch or "unknown", variant) if p)


def _normalize(name: str) -> str:
    name = posixpath.normpath(name)
    return name[2:] if name.startswith("./") else name.lstrip("/")


def _blob_member(digest: str) -> str:
    algo, _colon, hexpart = digest.partition(":")
    return f"blobs/{algo}/{hexpart}"


def _platform_matches(wanted: str, have: str) -> bool:
    """linux/arm64 matches linux/arm64/v8; an exact variant must match exactly."""
    w, h = wanted.split("/"), have.split("/")
    return w == h or (len(w) == 2 and h[:2] == w)


class ImageArchive:
    """An image archive on disk; use as a context manager."""

    def __init__(self, path: str):
        self.path = str(path)
        if not os.path.exists(self.path):
            raise ArchiveError(
                f"image archive {self.path} does not exist: build it with "
                "`docker save IMAGE -o FILE.tar` and give its path"
            )
        if os.path.isdir(self.path):
            raise ArchiveError(f"image archive {self.path} is a directory; give the .tar file `docker save` wrote")
        try:
            self._tar = tarfile.open(self.path, "r:*")
            members = self._tar.getmembers()
        except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as exc:
            raise ArchiveError(
                f"{self.path} is not a tar archive ({exc}); give the file `docker save` wrote"
            ) from None
        self._members: dict[str, tarfile.TarInfo] = {}
        for member in members:
            if member.isfile() or member.issym() or member.islnk():
                self._members[_normalize(member.name)] = member

    # -- context manager -------------------------------------------------
    def __enter__(self) -> "ImageArchive":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._tar.close()

    # -- raw access ------------------------------------------------------
    def _resolve(self, name: str, depth: int = 0) -> tarfile.TarInfo | None:
        member = self._members.get(_normalize(name))
        if member is None or depth > 8:
            return None
        if member.issym():
            target = posixpath.join(posixpath.dirname(_normalize(member.name)), member.linkname)
            return self._resolve(target, depth + 1)
        if member.islnk():
            return self._resolve(member.linkname, depth + 1)
        return member

    def has(self, name: str) -> bool:
        return self._resolve(name) is not None

    def size_of(self, name: str) -> int:
        member = self._resolve(name)
        if member is None:
            raise ArchiveError(f"{self.path} has no member {name}")
        return member.size

    def open_member(self, name: str):
        member = self._resolve(name)
        if member is None:
            raise ArchiveError(f"{self.path} has no member {name}")
        stream = self._tar.extractfile(member)
        if stream is None:
            raise ArchiveError(f"{self.path}: member {name} is not a regular file")
        return stream

    def read_member(self, name: str, limit: int = 16 * 1024 * 1024) -> bytes:
        if self.size_of(name) > limit:
            raise ArchiveError(f"{self.path}: {name} is larger than {limit} bytes; it is not a manifest or config")
        with self.open_member(name) as stream:
            return stream.read()

    def _json(self, name: str, what: str):
        try:
            return json.loads(self.read_member(name))
        except ValueError as exc:
            raise ArchiveError(f"{self.path}: {what} {name} is not valid JSON ({exc})") from None

    def open_blob(self, blob: Blob):
        """A binary stream of exactly the bytes to upload for blob."""
        if blob.content is not None:
            return io.BytesIO(blob.content)
        if blob.path is not None:
            return open(blob.path, "rb")
        return self.open_member(blob.member)

    def compressed(self, image: "PlatformImage", directory: str) -> "PlatformImage":
        """image with every plain-tar layer gzip-compressed into directory (deterministic)."""
        if not image.uncompressed_layers:
            return image
        layers = []
        for number, blob in enumerate(image.layers, 1):
            if blob.media_type not in GZIP_OF:
                layers.append(blob)
                continue
            target = os.path.join(directory, f"layer{number}.tar.gz")
            digest = hashlib.sha256()
            with open(target, "wb") as raw, self.open_blob(blob) as source:
                writer = _HashingFile(raw, digest)
                with gzip.GzipFile(fileobj=writer, mode="wb", compresslevel=GZIP_LEVEL, mtime=0, filename="") as gz:
                    for chunk in iter(lambda: source.read(CHUNK), b""):
                        gz.write(chunk)
            layers.append(Blob("sha256:" + digest.hexdigest(), os.path.getsize(target), GZIP_OF[blob.media_type],
                               "", path=target))
        manifest = json.loads(image.manifest)
        manifest["layers"] = [dict(d, **b.as_descriptor()) for d, b in zip(manifest["layers"], layers)]
        return PlatformImage(image.layout, image.platform, _dump(manifest), image.manifest_media_type,
                             image.config, layers, image.repo_tags)

    def _head(self, name: str, count: int = 4) -> bytes:
        with self.open_member(name) as stream:
            return stream.read(count)

    def _hash_member(self, name: str) -> str:
        digest = hashlib.sha256()
        with self.open_member(name) as stream:
            for chunk in iter(lambda: stream.read(CHUNK), b""):
                digest.update(chunk)
        return "sha256:" + digest.hexdigest()

    # -- layouts ---------------------------------------------------------
    @property
    def layout(self) -> str:
        if self.has("index.json"):
            return "oci"
        if self.has("manifest.json"):
            return "docker"
        raise ArchiveError(
            f"{self.path} is a tar but holds neither manifest.json nor index.json: "
            "it is not an image archive; create one with `docker save IMAGE -o FILE.tar`"
        )

    def platforms(self) -> list[str]:
        """Every platform the archive holds (sorted)."""
        if self.layout == "oci":
            return sorted({plat for plat, _entry in self._oci_candidates()})
        return [self._classic_entry()[1]]

    def image(self, platform: str | None = None) -> PlatformImage:
        """The single-platform image to push (``platform`` selects one of several)."""
        if self.layout == "oci":
            return self._oci_image(platform)
        return self._classic_image(platform)

    # -- OCI ---------------------------------------------------------------
    def _oci_candidates(self) -> list[tuple[str, dict]]:
        index = self._json("index.json", "index")
        found: dict[str, tuple[str, dict]] = {}

        def walk(descriptors: list, depth: int) -> None:
            for desc in descriptors or []:
                media = desc.get("mediaType", "")
                annotations = desc.get("annotations") or {}
                if annotations.get("vnd.docker.reference.type") == "attestation-manifest":
                    continue
                if media in INDEX_TYPES:
                    if depth > 4:
                        raise ArchiveError(f"{self.path}: image indexes nested too deep")
                    member = self._require_blob(desc, "image index")
                    walk(self._json(member, "image index").get("manifests", []), depth + 1)
                elif media in MANIFEST_TYPES:
                    plat = desc.get("platform")
                    if plat:
                        name = platform_string(plat.get("os"), plat.get("architecture"), plat.get("variant"))
                    else:
                        name = self._platform_of_manifest(desc)
                    if name.startswith("unknown/"):
                        continue
                    found.setdefault(desc["digest"], (name, desc))

        walk(index.get("manifests", []), 0)
        if not found:
            raise ArchiveError(f"{self.path}: index.json names no image manifest")
        return list(found.values())

    def _require_blob(self, desc: dict, what: str) -> str:
        digest = desc.get("digest", "")
        member = _blob_member(digest)
        if not digest or not self.has(member):
            raise ArchiveError(
                f"{self.path}: the {what} {digest or '(no digest)'} named by the manifest is not in the "
                "archive; the archive is incomplete, save the image again"
            )
        if "size" in desc and self.size_of(member) != desc["size"]:
            raise ArchiveError(
                f"{self.path}: the {what} {digest} is {self.size_of(member)} bytes, the manifest says "
                f"{desc['size']}; the archive is corrupt, save the image again"
            )
        return member

    def _platform_of_manifest(self, desc: dict) -> str:
        manifest = self._json(self._require_blob(desc, "image manifest"), "image manifest")
        config = self._json(self._require_blob(manifest.get("config", {}), "config"), "config")
        return platform_string(config.get("os"), config.get("architecture"), config.get("variant"))

    def _oci_image(self, platform: str | None) -> PlatformImage:
        candidates = self._oci_candidates()
        name, desc = _select(self.path, candidates, platform)
        manifest_member = self._require_blob(desc, "image manifest")
        raw = self.read_member(manifest_member)
        try:
            manifest = json.loads(raw)
        except ValueError as exc:
            raise ArchiveError(f"{self.path}: image manifest {desc['digest']} is not JSON ({exc})") from None
        config_desc = manifest.get("config") or {}
        config = Blob(config_desc.get("digest", ""), config_desc.get("size", 0),
                      config_desc.get("mediaType", ""), self._require_blob(config_desc, "config"))
        if config.size == 0:
            raise ArchiveError(f"{self.path}: the image config is empty; the archive is corrupt")
        layers, rebuilt = [], False
        for number, layer_desc in enumerate(manifest.get("layers") or [], 1):
            member = self._require_blob(layer_desc, f"layer {number}")
            blob = Blob(layer_desc["digest"], layer_desc.get("size", self.size_of(member)),
                        layer_desc.get("mediaType", ""), member)
            if blob.size == 0:
                blob, rebuilt = _empty_layer(OCI_LAYER_GZIP), True
            layers.append(blob)
        media_type = manifest.get("mediaType") or desc.get("mediaType") or OCI_MANIFEST
        if rebuilt:
            manifest["layers"] = [dict(d, **b.as_descriptor()) for d, b in zip(manifest["layers"], layers)]
            raw = _dump(manifest)
        tags = [a for a in [(desc.get("annotations") or {}).get("io.containerd.image.name")] if a]
        return PlatformImage("oci", name, raw, media_type, config, layers, tags)

    # -- classic -----------------------------------------------------------
    def _classic_entry(self) -> tuple[dict, str, dict]:
        entries = self._json("manifest.json", "manifest")
        if not isinstance(entries, list) or not entries:
            raise ArchiveError(f"{self.path}: manifest.json lists no image")
        if len(entries) > 1:
            names = ", ".join(", ".join(e.get("RepoTags") or ["(untagged)"]) for e in entries)
            raise ArchiveError(
                f"{self.path} holds {len(entries)} images ({names}); save one image per archive"
            )
        entry = entries[0]
        config_name = entry.get("Config", "")
        if not config_name or not self.has(config_name):
            raise ArchiveError(
                f"{self.path}: the config {config_name or '(none)'} named by manifest.json is not in the "
                "archive; the archive is incomplete, save the image again"
            )
        config = self._json(config_name, "config")
        return entry, platform_string(config.get("os"), config.get("architecture"), config.get("variant")), config

    def _classic_image(self, platform: str | None) -> PlatformImage:
        entry, name, config_json = self._classic_entry()
        _select(self.path, [(name, entry)], platform)
        config_raw = self.read_member(entry["Config"])
        config = Blob(sha256_digest(config_raw), len(config_raw), DOCKER_CONFIG, entry["Config"])
        diff_ids = (config_json.get("rootfs") or {}).get("diff_ids") or []
        paths = entry.get("Layers") or []
        if len(diff_ids) != len(paths):
            raise ArchiveError(
                f"{self.path}: manifest.json lists {len(paths)} layers, the config {len(diff_ids)}; "
                "the archive is corrupt, save the image again"
            )
        layers = []
        for number, (path, diff_id) in enumerate(zip(paths, diff_ids), 1):
            if not self.has(path):
                raise ArchiveError(
                    f"{self.path}: layer {number} ({path}) named by manifest.json is not in the archive; "
                    "the archive is incomplete, save the image again"
                )
            size = self.size_of(path)
            if size == 0:
                layers.append(_empty_layer(DOCKER_LAYER_GZIP))
                continue
            head = self._head(path)
            if head.startswith(ZSTD_MAGIC):
                raise ArchiveError(
                    f"{self.path}: layer {number} is zstd-compressed, which a Docker v2 manifest cannot "
                    "describe; save the image with Docker 25+ (OCI layout)"
                )
            gzipped = head.startswith(GZIP_MAGIC)
            if not gzipped:
                digest = diff_id  # an uncompressed layer's digest is its diff_id
            elif path.startswith("blobs/sha256/"):
                digest = "sha256:" + path.rsplit("/", 1)[-1]  # content-addressed name
            else:
                digest = self._hash_member(path)
            layers.append(Blob(digest, size, DOCKER_LAYER_GZIP if gzipped else DOCKER_LAYER, path))
        manifest = {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": config.as_descriptor(),
            "layers": [layer.as_descriptor() for layer in layers],
        }
        return PlatformImage("docker", name, _dump(manifest), DOCKER_MANIFEST, config, layers,
                             list(entry.get("RepoTags") or []))


class _HashingFile:
    """A write-only file that hashes what passes through it."""

    def __init__(self, target, digest):
        self.target, self.digest = target, digest

    def write(self, data) -> int:
        self.digest.update(data)
        return self.target.write(data)

    def flush(self) -> None:
        self.target.flush()


def _empty_layer(media_type: str) -> Blob:
    return Blob(sha256_digest(EMPTY_GZIP), len(EMPTY_GZIP), media_type, "", EMPTY_GZIP)


def _dump(obj: dict) -> bytes:
    return json.dumps(obj, indent=3).encode()


def _select(path: str, candidates: list[tuple[str, dict]], platform: str | None):
    names = sorted({name for name, _descriptor in candidates})
    if platform:
        matches = [c for c in candidates if _platform_matches(platform, c[0])]
        if len(matches) == 1 or (matches and len({m[0] for m in matches}) == 1):
            return matches[0]
        raise ArchiveError(
            f"{path} has no image for platform {platform}; it holds {', '.join(names)}: "
            "rebuild for the function's architecture or set platform to one of these"
        )
    if len(names) > 1:
        raise ArchiveError(
            f"{path} is a multi-platform index ({', '.join(names)}); Lambda takes a single-platform "
            "manifest: choose one with platform (linux/amd64 for architecture x86_64, linux/arm64 for arm64)"
        )
    return candidates[0]


def read_image(path: str, platform: str | None = None) -> PlatformImage:
    """Parse path and return its single-platform image (closes the archive)."""
    with ImageArchive(path) as archive:
        return archive.image(platform)


def manifest_identity(manifest: bytes | str) -> tuple:
    """What makes two manifests the same image: the config digest (it names every layer's
    uncompressed diff_id) and the layer count. Compression and manifest media type may differ."""
    try:
        data = json.loads(manifest)
    except (TypeError, ValueError):
        return ()
    return ((data.get("config") or {}).get("digest"), len(data.get("layers") or []))


def manifest_layer_bytes(manifest: bytes | str) -> int:
    """Sum of the layer sizes a manifest declares (what the registry stores)."""
    try:
        return sum(layer.get("size", 0) for layer in json.loads(manifest).get("layers") or [])
    except (TypeError, ValueError, AttributeError):
        return 0


def upload_ranges(size: int, part_size: int, minimum: int = 5 * 1024 * 1024) -> list[tuple[int, int]]:
    """Inclusive (first, last) byte ranges: ``part_size`` each (at least ``minimum``), the last shorter."""
    part = max(int(part_size or 0), minimum)
    return [(start, min(start + part, size) - 1) for start in range(0, size, part)]
