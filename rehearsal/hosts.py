"""One systemd container per host of the model, at the model's address, with the model's limits."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import shlex
import time
from dataclasses import asdict, dataclass

from rehearsal.network import NAME_PREFIX, NetworkSpec
from rehearsal.podman import Podman
from site_survey.model import Host, Site

SITE_LABEL = "qpusite.site"
SPEC_LABEL = "qpusite.spec"


@dataclass(frozen=True)
class ContainerSpec:
    name: str  # qpusite-<site>-<host>
    host: str
    hostname: str
    address: str
    network: str
    image: str
    cpus: float
    memory_mb: int
    user: str
    port: int
    become: bool

    def spec_hash(self) -> str:
        # The login user and sudo are set up on every `up` (authorise_script): a model that changes them
        # keeps its containers, so a rollout as another user needs no new hosts.
        made_from = {k: v for k, v in asdict(self).items() if k not in ("user", "become")}
        return hashlib.sha256(json.dumps(made_from, sort_keys=True).encode()).hexdigest()[:16]


def container_prefix(site_name: str) -> str:
    return f"{NAME_PREFIX}{site_name}-"


def login_of(site: Site, host: Host) -> tuple[str, int, bool]:
    """(user, port, become) as Ansible will log in: the model's connection (the host's own, then the site's), and
    where the model names no user, Ansible's default — the user running it."""
    conn = site.connection_for(host)
    user = conn.user if "user" in conn.model_fields_set else getpass.getuser()
    return user, conn.port, conn.become


def container_specs(site: Site, network: NetworkSpec, image: str, host_cpus: int | None = None) -> list[ContainerSpec]:
    # A container cannot be given more CPUs than the machine has; Slurm still sees the model's count.
    available = host_cpus or os.cpu_count() or 1
    logins = {h.name: login_of(site, h) for h in site.hosts}
    return [
        ContainerSpec(
            name=f"{container_prefix(site.site.name)}{h.name}",
            host=h.name,
            hostname=h.name,
            address=h.address,
            network=network.name,
            image=image,
            cpus=float(min(h.cpus, available)),
            memory_mb=h.memory_mb,
            user=logins[h.name][0],
            port=logins[h.name][1],
            become=logins[h.name][2],
        )
        for h in site.hosts
    ]


def run_arguments(spec: ContainerSpec, site_name: str) -> list[str]:
    return [
        "run", "--detach",
        "--name", spec.name,
        "--hostname", spec.hostname,
        "--network", spec.network,
        "--ip", spec.address,
        "--systemd=always",
        # The roles own /etc/hosts; without --no-hosts podman bind-mounts its own copy,
        # which Ansible cannot replace atomically.
        "--no-hosts",
        "--cpus", f"{spec.cpus:g}",
        "--memory", f"{spec.memory_mb}m",
        # sshd writes audit records at login; ping needs raw sockets.
        "--cap-add", "AUDIT_WRITE",
        "--cap-add", "NET_RAW",
        "--label", f"{SITE_LABEL}={site_name}",
        "--label", f"{SPEC_LABEL}={spec.spec_hash()}",
        spec.image,
    ]


def hosts_file(site: Site) -> str:
    """The /etc/hosts a fresh container starts with: every host of the site by name and FQDN."""
    domain = site.facility.network.domain
    lines = [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        f"# hosts of site {site.site.name} (written by the qpusite rehearsal; the roles may manage this file)",
    ]
    lines += [f"{h.address}\t{h.name}.{domain} {h.name}" for h in site.hosts]
    return "\n".join(lines) + "\n"


def authorise_script(spec: ContainerSpec) -> str:
    """Shell run in the container: the user exists, may sudo if the model escalates, and trusts the key on stdin."""
    user = shlex.quote(spec.user)
    steps = []
    if spec.user != "root":
        steps.append(f"id -u {user} >/dev/null 2>&1 || useradd --create-home --shell /bin/bash {user}")
        if spec.become:
            steps.append(
                f"echo {shlex.quote(spec.user + ' ALL=(ALL) NOPASSWD: ALL')} > /etc/sudoers.d/qpusite-rehearsal"
                " && chmod 0440 /etc/sudoers.d/qpusite-rehearsal"
            )
        else:
            steps.append("rm -f /etc/sudoers.d/qpusite-rehearsal")  # a user the model no longer escalates
    home = "/root" if spec.user == "root" else f"$(getent passwd {user} | cut -d: -f6)"
    steps.append(f'home={home}; install -d -m 0700 -o {user} -g "$(id -gn {user})" "$home/.ssh"')
    steps.append('cat > "$home/.ssh/authorized_keys"')
    steps.append(f'chown {user}: "$home/.ssh/authorized_keys"; chmod 0600 "$home/.ssh/authorized_keys"')
    if spec.port != 22:
        steps.append(
            f"echo 'Port {spec.port}' > /etc/ssh/sshd_config.d/qpusite-port.conf && systemctl restart ssh"
        )
    return " && ".join(steps)


@dataclass(frozen=True)
class ContainerState:
    name: str
    running: bool
    spec_hash: str | None


def site_containers(podman: Podman, site_name: str) -> dict[str, ContainerState]:
    listed = podman.json(["ps", "--all", "--format", "json", "--filter", f"label={SITE_LABEL}={site_name}"])
    out: dict[str, ContainerState] = {}
    for item in listed:
        names = item.get("Names") or []
        name = names[0] if names else ""
        if not name.startswith(container_prefix(site_name)):
            continue  # only ever touch containers the kit named
        labels = item.get("Labels") or {}
        out[name] = ContainerState(name, item.get("State") == "running", labels.get(SPEC_LABEL))
    return out


RM_RETRY_PAUSE_S = 5.0


def remove_containers(podman: Podman, names: list[str]) -> None:
    safe = [n for n in names if n.startswith(NAME_PREFIX)]
    if safe:
        # systemd stops on SIGRTMIN+3 (the image's STOPSIGNAL); give it time to shut down cleanly.
        first = podman.run(["rm", "--force", "--time", "10", *safe], timeout=180, check=False)
        if first.returncode != 0:
            # On a loaded machine a container podman has just SIGKILLed can outlive podman's own wait
            # ("could not be stopped": seen in CI-shaped runs); it is removable moments later. Once more,
            # then any error stands.
            time.sleep(RM_RETRY_PAUSE_S)
            podman.run(["rm", "--force", "--ignore", "--time", "10", *safe], timeout=180)


KEPT_STOPPED = "kept stopped"


def ensure_containers(
    podman: Podman, site: Site, specs: list[ContainerSpec], public_key: str, keep_stopped: bool = False
) -> dict[str, str]:
    """Create, start or reuse each host's container; returns what was done per host. With `keep_stopped`, a
    stopped container stays stopped (KEPT_STOPPED): the rehearsal of a rollout with that host down."""
    existing = site_containers(podman, site.site.name)
    wanted = {s.name for s in specs}
    stale = [n for n in existing if n not in wanted]
    remove_containers(podman, stale)  # hosts no longer in the model
    actions: dict[str, str] = {}
    for spec in specs:
        state = existing.get(spec.name)
        if state is not None and state.spec_hash != spec.spec_hash():
            remove_containers(podman, [spec.name])  # the model or image changed: start afresh
            state = None
            actions[spec.host] = "recreated"
        if state is None:
            podman.run(run_arguments(spec, site.site.name))
            podman.run(["exec", "-i", spec.name, "sh", "-c", "cat > /etc/hosts"], input_text=hosts_file(site))
            actions.setdefault(spec.host, "created")
        elif not state.running and keep_stopped:
            actions[spec.host] = KEPT_STOPPED
            continue
        elif not state.running:
            podman.run(["start", spec.name])
            actions[spec.host] = "started"
        else:
            actions[spec.host] = "reused"
        # Every run: the key on disk is the one the containers trust (cheap, and survives a regenerated key).
        podman.run(["exec", "-i", spec.name, "sh", "-c", authorise_script(spec)], input_text=public_key)
    return actions
