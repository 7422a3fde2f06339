"""The node image: a Debian rootfs made by debootstrap, imported into podman once, cached.

No registry is reachable, so the image is built from the machine's own Debian
mirror. Its tag is a hash of the recipe below: change the recipe and the next
`qpusite up` builds a new image; leave it and every run reuses the cached one.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from rehearsal.errors import RehearsalError
from rehearsal.lock import exclusive
from rehearsal.mirror import debian_mirror
from rehearsal.podman import Podman

IMAGE_REPOSITORY = "localhost/qpusite-node"
SUITE = "bookworm"
VARIANT = "minbase"
# systemd as PID 1, SSH for Ansible, and the Python pieces Ansible's modules need
# (python3-apt for the apt module, sudo for become).
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "python3",
    "python3-apt",
    "sudo",
    "iproute2",
    "procps",
    "ca-certificates",
    "gnupg",
    "less",
)
# Each container makes its own SSH host keys at first boot: the rootfs must not
# carry one key pair shared by every host.
HOSTKEY_UNIT = """\
[Unit]
Description=Generate this host's own SSH host keys (qpusite rehearsal image)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
"""
HOSTKEY_UNIT_NAME = "qpusite-ssh-hostkeys.service"
IMPORT_CHANGES = ('CMD ["/sbin/init"]', "STOPSIGNAL SIGRTMIN+3")
BUILD_TIMEOUT_S = 1200


def recipe() -> dict[str, object]:
    """Everything that decides the image's content (the mirror does not: any mirror serves the same suite)."""
    return {
        "suite": SUITE,
        "variant": VARIANT,
        "packages": sorted(PACKAGES),
        "hostkey_unit": HOSTKEY_UNIT,
        "changes": list(IMPORT_CHANGES),
        "customise": 2,  # bump when _customise() changes
    }


def recipe_hash(spec: dict[str, object] | None = None) -> str:
    text = json.dumps(spec if spec is not None else recipe(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def image_reference(spec: dict[str, object] | None = None) -> str:
    return f"{IMAGE_REPOSITORY}:{recipe_hash(spec)}"


@dataclass(frozen=True)
class ImageResult:
    reference: str
    built: bool
    seconds: float


def _customise(rootfs: Path) -> None:
    for key in (rootfs / "etc" / "ssh").glob("ssh_host_*"):
        key.unlink()
    units = rootfs / "etc" / "systemd" / "system"
    units.mkdir(parents=True, exist_ok=True)
    (units / HOSTKEY_UNIT_NAME).write_text(HOSTKEY_UNIT, encoding="utf-8")
    wants = units / "multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / HOSTKEY_UNIT_NAME
    if not link.is_symlink():
        link.symlink_to(f"/etc/systemd/system/{HOSTKEY_UNIT_NAME}")
    # An empty machine-id makes systemd create a fresh one in every container.
    (rootfs / "etc" / "machine-id").write_text("", encoding="utf-8")
    for cached in (rootfs / "var" / "cache" / "apt" / "archives").glob("*.deb"):
        cached.unlink()


def ensure_image(podman: Podman, log_path: Path) -> ImageResult:
    """Return the cached image for the current recipe, building it first if it is missing."""
    started = time.monotonic()
    reference = image_reference()
    if podman.ok(["image", "exists", reference]):
        return ImageResult(reference, built=False, seconds=time.monotonic() - started)
    # Another site's `up` may be building the same image: wait for it rather than build twice.
    with exclusive(podman.layout.root / "locks" / "image.lock", "the node image build", wait_s=BUILD_TIMEOUT_S):
        if podman.ok(["image", "exists", reference]):
            return ImageResult(reference, built=False, seconds=time.monotonic() - started)
        _build(podman, reference, log_path)
    return ImageResult(reference, built=True, seconds=time.monotonic() - started)


def _build(podman: Podman, reference: str, log_path: Path) -> None:
    mirror = debian_mirror(SUITE)
    rootfs = podman.layout.build_dir / f"rootfs-{recipe_hash()}"
    if rootfs.exists():  # a build interrupted earlier: start clean
        shutil.rmtree(rootfs)
    rootfs.parent.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        "debootstrap",
        f"--variant={VARIANT}",
        f"--include={','.join(PACKAGES)}",
        SUITE,
        str(rootfs),
        mirror,
    ]
    try:
        with log_path.open("w", encoding="utf-8") as log:
            log.write(f"$ {' '.join(cmd)}\n")
            log.flush()
            try:
                done = subprocess.run(
                    cmd, stdout=log, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S, check=False
                )
            except subprocess.TimeoutExpired:
                raise RehearsalError(f"debootstrap did not finish within {BUILD_TIMEOUT_S} s; see {log_path}") from None
        if done.returncode != 0:
            raise RehearsalError(f"debootstrap from {mirror} failed ({done.returncode}); see {log_path}")
        _customise(rootfs)
        changes = [arg for change in IMPORT_CHANGES for arg in ("--change", change)]
        with subprocess.Popen(
            ["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE
        ) as tar:
            podman.run(["import", *changes, "-", reference], stdin=tar.stdout, timeout=BUILD_TIMEOUT_S)
        if tar.returncode != 0:
            raise RehearsalError(f"packing the root file system at {rootfs} failed ({tar.returncode})")
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)


def remove_images(podman: Podman) -> list[str]:
    """Every image of the kit's repository, whatever its recipe hash."""
    listed = podman.json(["images", "--format", "json", "--filter", f"reference={IMAGE_REPOSITORY}"])
    ids = sorted({str(item["Id"]) for item in listed})
    if ids:
        podman.run(["rmi", "--force", *ids])
    return ids
