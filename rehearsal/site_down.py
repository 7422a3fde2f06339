"""`qpusite down`: remove a site's rehearsal — containers, network, key and secrets — keeping the image cache."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

from rehearsal.hosts import remove_containers, site_containers
from rehearsal.image import remove_images
from rehearsal.network import network_name, remove_network
from rehearsal.paths import SitePaths
from rehearsal.podman import Podman


@dataclass
class DownReport:
    containers: list[str] = field(default_factory=list)
    network_removed: bool = False
    state_removed: bool = False
    images: list[str] = field(default_factory=list)


def tear_down(podman: Podman, paths: SitePaths, *, purge_image: bool = False) -> DownReport:
    report = DownReport()
    report.containers = sorted(site_containers(podman, paths.site_name))
    remove_containers(podman, report.containers)
    report.network_removed = remove_network(podman, network_name(paths.site_name))
    if paths.rehearsal_dir.is_dir():
        shutil.rmtree(paths.rehearsal_dir)
        report.state_removed = True
    if purge_image:
        report.images = remove_images(podman)
    return report
