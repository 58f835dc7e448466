"""Build small, valid, deterministic image archives like `docker save` writes them.

    python -m rehearsal.image_archive OUT.tar [--layout oci|docker|multi]
           [--layers 1024,2048] [--seed 0] [--gzip]

Layouts: ``docker`` (classic, Docker < 25: manifest.json + <id>/layer.tar +
<config>.json), ``oci`` (Docker 25+: oci-layout + index.json + blobs/sha256/
+ a compatible manifest.json), ``multi`` (OCI index with linux/amd64 and
linux/arm64 images plus an attestation manifest, as buildx writes).

Layer payloads are pseudo-random bytes from ``seed`` (incompressible, the same
on every run), so the same arguments give byte-identical archives and another
seed gives another image.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import random
import shutil
import tarfile
import tempfile
from pathlib import Path

CHUNK = 1024 * 1024
CREATED = "2026-01-01T00:00:00Z"


def _info(name: str, size: int, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, mode, 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _payload(seed: int, size: int):
    rng = random.Random(seed)
    left = size
    while left > 0:
        step = min(CHUNK, left)
        yield rng.randbytes(step)
        left -= step


class _HashingWriter(io.RawIOBase):
    def __init__(self, target):
        self.target, self.sha, self.size = target, hashlib.sha256(), 0

    def writable(self):
        return True

    def write(self, data):
        self.target.write(data)
        self.sha.update(data)
        self.size += len(data)
        return len(data)


class _Chunks(io.RawIOBase):
    """A read()-able stream over a generator of byte chunks."""

    def __init__(self, chunks):
        self.chunks, self.buf = iter(chunks), b""

    def readable(self):
        return True

    def read(self, size=-1):
        while size < 0 or len(self.buf) < size:
            try:
                self.buf += next(self.chunks)
            except StopIteration:
                break
        if size < 0:
            out, self.buf = self.buf, b""
        else:
            out, self.buf = self.buf[:size], self.buf[size:]
        return out


def _write_layer(directory: Path, number: int, size: int, seed: int, gzipped: bool) -> dict:
    """One layer tar (one file of ``size`` bytes) on disk; its digests and path."""
    raw_path = directory / f"layer{number}.tar"
    with open(raw_path, "wb") as out:
        writer = _HashingWriter(out)
        with tarfile.open(fileobj=writer, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
            tar.addfile(_info(f"opt/app/layer{number}.bin", size), _Chunks(_payload(seed * 1000 + number, size)))
    diff_id = "sha256:" + writer.sha.hexdigest()
    if not gzipped:
        return {"path": raw_path, "diff_id": diff_id, "digest": diff_id, "size": writer.size}
    gz_path = directory / f"layer{number}.tar.gz"
    with open(raw_path, "rb") as src, open(gz_path, "wb") as dst:
        writer = _HashingWriter(dst)
        with gzip.GzipFile(fileobj=writer, mode="wb", compresslevel=1, mtime=0) as gz:
            shutil.copyfileobj(src, gz, CHUNK)
    return {"path": gz_path, "diff_id": diff_id, "digest": "sha256:" + writer.sha.hexdigest(), "size": writer.size}


def _config(arch: str, diff_ids: list[str], seed: int) -> bytes:
    config = {
        "architecture": arch,
        "os": "linux",
        "created": CREATED,
        "config": {
            "Entrypoint": ["/lambda-entrypoint.sh"],
            "Cmd": ["app.handler"],
            "WorkingDir": "/var/task",
            "Labels": {"org.opencontainers.image.revision": f"seed-{seed}"},
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": CREATED, "created_by": f"COPY layer{i} /opt/app/"} for i in range(len(diff_ids))],
    }
    return json.dumps(config, sort_keys=True).encode()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class _Archive:
    def __init__(self, path: Path):
        self.tar = tarfile.open(path, "w", format=tarfile.USTAR_FORMAT)
        self.names: set[str] = set()

    def add_bytes(self, name: str, data: bytes) -> None:
        if name not in self.names:
            self.names.add(name)
            self.tar.addfile(_info(name, len(data)), io.BytesIO(data))

    def add_file(self, name: str, path: Path) -> None:
        if name not in self.names:
            self.names.add(name)
            with open(path, "rb") as src:
                self.tar.addfile(_info(name, path.stat().st_size), src)

    def add_dir(self, name: str) -> None:
        info = _info(name, 0, 0o755)
        info.type = tarfile.DIRTYPE
        self.tar.addfile(info)

    def close(self) -> None:
        self.tar.close()


def build_archive(
    path: str | Path,
    layout: str = "oci",
    layers: list[int] | tuple[int, ...] = (2048, 4096),
    seed: int = 0,
    gzipped: bool = False,
    repo_tag: str = "naver-sms-automation:v1.0.0",
    arch: str = "amd64",
    omit_layer: bool = False,
) -> Path:
    """Write an image archive to path and return it.

    ``omit_layer`` leaves the last layer out (an incomplete archive, for tests).
    """
    if layout not in ("oci", "docker", "multi"):
        raise ValueError(f"layout must be oci, docker or multi, not {layout}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    archs = ["amd64", "arm64"] if layout == "multi" else [arch]
    with tempfile.TemporaryDirectory(prefix="image-archive-") as tmp:
        out = _Archive(path)
        try:
            images = []
            for arch_number, image_arch in enumerate(archs):
                layer_seed = seed + 7919 * arch_number
                built = [_write_layer(Path(tmp), i + arch_number * 100, size, layer_seed, gzipped)
                         for i, size in enumerate(layers)]
                config = _config(image_arch, [b["diff_id"] for b in built], seed)
                images.append((image_arch, built, config))
            if layout == "docker":
                _classic(out, images[0], repo_tag, omit_layer)
            else:
                _oci(out, images, repo_tag, gzipped, omit_layer, multi=layout == "multi")
        finally:
            out.close()
    return path


def _classic(out: _Archive, image, repo_tag: str, omit_layer: bool) -> None:
    _, built, config = image
    config_name = _digest(config).split(":")[1] + ".json"
    names = []
    for number, layer in enumerate(built):
        layer_id = hashlib.sha256(f"{layer['diff_id']}-{number}".encode()).hexdigest()
        names.append(f"{layer_id}/layer.tar")
        out.add_dir(f"{layer_id}/")
        out.add_bytes(f"{layer_id}/VERSION", b"1.0")
        out.add_bytes(f"{layer_id}/json", json.dumps({"id": layer_id}).encode())
        if not (omit_layer and number == len(built) - 1):
            out.add_file(f"{layer_id}/layer.tar", layer["path"])
    out.add_bytes(config_name, config)
    repo, _, tag = repo_tag.rpartition(":")
    out.add_bytes("manifest.json", json.dumps([{"Config": config_name, "RepoTags": [repo_tag], "Layers": names}]).encode())
    out.add_bytes("repositories", json.dumps({repo: {tag: names[-1].split("/")[0]}}).encode())


def _oci(out: _Archive, images, repo_tag: str, gzipped: bool, omit_layer: bool, multi: bool) -> None:
    layer_type = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if gzipped else "")
    out.add_bytes("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    out.add_dir("blobs/")
    out.add_dir("blobs/sha256/")
    descriptors, compat = [], []
    for image_arch, built, config in images:
        for number, layer in enumerate(built):
            if not (omit_layer and number == len(built) - 1):
                out.add_file("blobs/sha256/" + layer["digest"].split(":")[1], layer["path"])
        out.add_bytes("blobs/sha256/" + _digest(config).split(":")[1], config)
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": _digest(config),
                       "size": len(config)},
            "layers": [{"mediaType": layer_type, "digest": b["digest"], "size": b["size"]} for b in built],
        }).encode()
        out.add_bytes("blobs/sha256/" + _digest(manifest).split(":")[1], manifest)
        descriptors.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "digest": _digest(manifest), "size": len(manifest),
                            "platform": {"architecture": image_arch, "os": "linux"}})
        compat.append({"Config": "blobs/sha256/" + _digest(config).split(":")[1], "RepoTags": [repo_tag],
                       "Layers": ["blobs/sha256/" + b["digest"].split(":")[1] for b in built]})
    name_annotations = {"io.containerd.image.name": f"docker.io/library/{repo_tag}",
                        "org.opencontainers.image.ref.name": repo_tag.rpartition(":")[2]}
    if multi:
        attestation = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                  "config": descriptors[0], "layers": []}).encode()
        out.add_bytes("blobs/sha256/" + _digest(attestation).split(":")[1], attestation)
        descriptors.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                            "digest": _digest(attestation), "size": len(attestation),
                            "platform": {"architecture": "unknown", "os": "unknown"},
                            "annotations": {"vnd.docker.reference.digest": descriptors[0]["digest"],
                                            "vnd.docker.reference.type": "attestation-manifest"}})
        index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                            "manifests": descriptors}).encode()
        out.add_bytes("blobs/sha256/" + _digest(index).split(":")[1], index)
        top = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": _digest(index),
               "size": len(index), "annotations": name_annotations}
    else:
        top = dict(descriptors[0], annotations=name_annotations)
        top.pop("platform")
        out.add_bytes("manifest.json", json.dumps(compat[:1]).encode())
    out.add_bytes("index.json", json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                            "manifests": [top]}).encode())
    repo, _, tag = repo_tag.rpartition(":")
    out.add_bytes("repositories", json.dumps({repo: {tag: descriptors[0]["digest"].split(":")[1]}}).encode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal.image_archive", description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--layout", choices=["oci", "docker", "multi"], default="oci")
    parser.add_argument("--layers", default="2048,4096", help="comma-separated layer payload sizes in bytes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gzip", action="store_true", help="gzip the layers")
    parser.add_argument("--tag", default="naver-sms-automation:v1.0.0")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.layers.split(",") if s]
    out = build_archive(args.out, args.layout, sizes, args.seed, args.gzip, args.tag)
    print(f"{out} ({out.stat().st_size} bytes, layout {args.layout}, layers {sizes})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
