"""Static checks of the per-service Dockerfiles, .dockerignore and scripts/images.sh.

There is no Docker engine on the machines that test this project (and Debian has no
hadolint), so these checks read the Dockerfiles: one per service, multi-stage, a pinned
Rust builder that builds exactly that crate, a small runtime image, a non-root numeric
USER, the service's port (docs/architecture.md) and its binary as ENTRYPOINT.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# service -> (port it listens on in the container, the variable that sets it)
SERVICES = {
    "api": (8080, "API_LISTEN"),
    "grpc-server": (50051, "GRPC_LISTEN"),
    "worker-kafka": (9101, "WORKER_LISTEN"),
    "worker-rabbit": (9102, "WORKER_LISTEN"),
    "dashboard": (8000, "DASHBOARD_LISTEN"),
    "rungame": (None, None),
}
RUNTIME_IMAGES = ("debian:bookworm-slim", "debian:12-slim", "gcr.io/distroless/cc-debian12")


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuations joined."""
    out, buf = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        op, _, args = buf.partition(" ")
        out.append((op.upper(), args.strip()))
        buf = ""
    assert not buf, f"{path}: dangling line continuation"
    return out


def stages(path: Path) -> list[dict]:
    result = []
    for op, args in instructions(path):
        if op == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args, re.IGNORECASE)
            assert m, f"{path}: cannot read FROM {args}"
            result.append({"image": m.group(1), "name": m.group(2), "body": []})
        else:
            assert result, f"{path}: {op} before the first FROM"
            result[-1]["body"].append((op, args))
    return result


def image_is_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    # a ':' in the registry host part is a port, not a tag
    if not name or "/" in tag:
        return False
    return tag not in ("", "latest")


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_is_multi_stage_with_a_pinned_rust_builder(service):
    path = ROOT / service / "Dockerfile"
    assert path.is_file(), f"{service}/Dockerfile is missing"
    st = stages(path)
    assert len(st) >= 2, f"{service}/Dockerfile is not multi-stage"
    for s in st:
        if s["image"] in {x["name"] for x in st if x["name"]}:
            continue  # FROM an earlier stage
        assert image_is_pinned(s["image"]), f"{service}/Dockerfile: {s['image']} is not pinned to a tag"
    builder = st[0]
    assert builder["name"], f"{service}/Dockerfile: the build stage has no name"
    assert re.fullmatch(r"rust:1\.\d+(\.\d+)?-bookworm(@sha256:[0-9a-f]{64})?", builder["image"]), builder["image"]
    runs = " ".join(a for op, a in builder["body"] if op == "RUN")
    assert re.search(r"\bcmake\b", runs) and "pkg-config" in runs and "zlib1g-dev" in runs, \
        f"{service}/Dockerfile: the builder needs cmake, pkg-config and zlib for librdkafka"
    build = re.search(r"cargo build ([^&;]*)", runs)
    assert build, f"{service}/Dockerfile: no cargo build"
    args = shlex.split(build.group(1))
    assert "--release" in args and "--locked" in args
    assert args[args.index("-p") + 1] == service, f"{service}/Dockerfile builds another crate: {args}"


@pytest.mark.parametrize("service", SERVICES)
def test_runtime_stage_is_small_non_root_and_runs_the_binary(service):
    path = ROOT / service / "Dockerfile"
    final = stages(path)[-1]
    assert final["image"].split("@")[0].startswith(RUNTIME_IMAGES), \
        f"{service}/Dockerfile: runtime image {final['image']} is not a small Debian 12 image"
    body = final["body"]
    users = [a for op, a in body if op == "USER"]
    assert users, f"{service}/Dockerfile: the final stage has no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0, f"{service}/Dockerfile: USER {users[-1]} must be a numeric non-root uid"
    assert [op for op, _ in body].index("USER") > max(i for i, (op, _) in enumerate(body) if op == "RUN"), \
        f"{service}/Dockerfile: USER must come after the last RUN"
    copies = [a for op, a in body if op == "COPY"]
    assert any(c.startswith("--from=") and c.split()[-1] == f"/usr/local/bin/{service}" for c in copies), \
        f"{service}/Dockerfile: the binary is not copied from the builder"
    entry = [a for op, a in body if op == "ENTRYPOINT"]
    assert entry and json.loads(entry[-1]) == [f"/usr/local/bin/{service}"], \
        f"{service}/Dockerfile: ENTRYPOINT must be the binary in exec form"
    port, var = SERVICES[service]
    exposed = [int(p.split("/")[0]) for op, a in body if op == "EXPOSE" for p in a.split()]
    if port is None:
        assert not exposed, f"{service} serves no port"
    else:
        assert exposed == [port], f"{service}/Dockerfile exposes {exposed}, the service listens on {port}"
        envs = " ".join(a for op, a in body if op == "ENV")
        assert f"{var}=0.0.0.0:{port}" in envs, f"{service}/Dockerfile: {var} must listen on 0.0.0.0:{port}"


def test_dockerignore_keeps_the_context_small():
    path = ROOT / ".dockerignore"
    assert path.is_file(), "no .dockerignore at the repository root"
    entries = {line.strip().rstrip("/") for line in path.read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    for required in ("target", "run", ".git"):
        assert required in entries, f".dockerignore does not exclude {required}"
    assert any(e.startswith(".venv") for e in entries), ".dockerignore does not exclude the virtualenvs"
    for needed in ("Cargo.toml", "Cargo.lock", "proto", "common", *SERVICES):
        assert needed not in entries, f".dockerignore excludes {needed}, which the build needs"


def test_dockerfile_parser_can_fail(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM rust:latest AS builder\nRUN cargo build -p api\nFROM debian:bookworm-slim\n"
                   "COPY --from=builder /out/api /usr/local/bin/api\nUSER root\nENTRYPOINT /usr/local/bin/api\n")
    st = stages(bad)
    assert not image_is_pinned(st[0]["image"])
    assert not image_is_pinned("debian") and not image_is_pinned("localhost:5000/debian")
    assert image_is_pinned("localhost:5000/debian:12-slim")
    assert [a for op, a in st[-1]["body"] if op == "USER"] == ["root"]


IMAGES_SH = ROOT / "scripts" / "images.sh"


def test_images_script_builds_every_service():
    assert IMAGES_SH.is_file() and os.access(IMAGES_SH, os.X_OK), "scripts/images.sh is missing or not executable"
    subprocess.run(["bash", "-n", str(IMAGES_SH)], check=True)
    text = IMAGES_SH.read_text()
    for service in SERVICES:
        assert re.search(rf"\b{re.escape(service)}\b", text), f"scripts/images.sh does not build {service}"
    for var in ("REGISTRY", "TAG", "PUSH"):
        assert var in text


@pytest.mark.parametrize("env", [
    {"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
    {"DOCKER": "no-such-docker-cli"},
], ids=["no-engine", "no-cli"])
def test_images_script_fails_clearly_without_docker(env):
    result = subprocess.run([str(IMAGES_SH)], env={**os.environ, **env}, capture_output=True,
                            text=True, timeout=60, cwd=ROOT)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("images.sh: "), result.stderr
    assert "docker" in lines[0].lower()
    assert "==> building" not in result.stdout
