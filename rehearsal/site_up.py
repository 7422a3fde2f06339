"""`qpusite up`: the rehearsal from bare machine to a smoke-checked site, phase by phase."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rehearsal import smoke, smoke_gridengine
from rehearsal.errors import RehearsalInputError
from rehearsal.hostkeys import collect_host_keys
from rehearsal.hosts import (
    KEPT_STOPPED,
    ContainerSpec,
    container_specs,
    ensure_containers,
    login_of,
    site_containers,
)
from rehearsal.image import ensure_image
from rehearsal.lock import exclusive
from rehearsal.network import NetworkSpec, ensure_network, site_network
from rehearsal.paths import SitePaths, display_path, state_dir
from rehearsal.podman import Podman
from rehearsal.podman_config import PodmanLayout
from rehearsal.prerequisites import check_prerequisites
from rehearsal.progress import Progress
from rehearsal.recap import HostRecap, totals
from rehearsal.rollout import RolloutResult, playbook_command, run_playbook
from rehearsal.secrets_file import ensure_secrets, put_secrets, vaulted_variables
from rehearsal.site_ca import ensure_site_ca
from rehearsal.ssh import Ssh, SshTarget
from rehearsal.sshkeys import ensure_key_pair
from rehearsal.twin_site import TwinOptions
from rehearsal.twin_site import prepare as prepare_twins
from site_survey import load_site
from site_survey.loader import resolve_site_path
from site_survey.model import Host, HostRole, Site


@dataclass
class UpReport:
    site: str
    network: NetworkSpec | None = None
    image: str = ""
    hosts: dict[str, str] = field(default_factory=dict)  # host -> address
    container_actions: dict[str, str] = field(default_factory=dict)
    ssh_seconds: dict[str, float] = field(default_factory=dict)
    rollout: RolloutResult | None = None
    down: list[str] = field(default_factory=list)  # hosts whose containers --keep-stopped left stopped
    smoke: list[smoke.SmokeResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    summary_file: Path | None = None

    @property
    def recap(self) -> dict[str, HostRecap]:
        return self.rollout.recap if self.rollout else {}

    @property
    def ok(self) -> bool:
        if self.rollout is not None:
            counts = totals(self.rollout.recap)
            # A host the rollout went without (within the model's rollout.may_be_unavailable) is not a failure.
            unreachable = {h for h, r in self.rollout.recap.items() if r.unreachable}
            if self.rollout.returncode != 0 or counts["failed"] or not self.rollout.recap:
                return False
            if unreachable - set(self.rollout.unavailable):
                return False
        return all(r.ok is not False for r in self.smoke)


def podman_for_project() -> Podman:
    return Podman(PodmanLayout(state_dir() / "podman"))


def site_paths(site: Site, site_arg: str) -> SitePaths:
    return SitePaths(site.site.name, resolve_site_path(site_arg).resolve())


def ssh_targets(site: Site) -> dict[str, SshTarget]:
    return {h.name: SshTarget(h.name, h.address, *login_of(site, h)) for h in site.hosts}


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def bring_up(
    site_arg: str,
    progress: Progress,
    *,
    skip_rollout: bool = False,
    skip_smoke: bool = False,
    check: bool = False,
    keep_stopped: bool = False,
    playbook_args: list[str] | None = None,
    twins: TwinOptions | None = None,
) -> UpReport:
    started = time.monotonic()
    site = load_site(site_arg)  # SiteModelError → exit 2, before anything is touched
    if twins is not None:
        with progress.phase("twins") as phase:
            check_prerequisites()
            copy, plan = prepare_twins(resolve_site_path(site_arg).resolve(), site, twins, podman_for_project())
            for note in plan.notes:
                phase.note(note)
            site, site_arg = plan.site, str(copy)
            phase.done(f"{len(site.hosts)} hosts, {len(site.qpus)} QPU twin(s) in {display_path(copy)}")
    paths = site_paths(site, site_arg)
    report = UpReport(site.site.name, hosts={h.name: h.address for h in site.hosts}, summary_file=paths.summary_file)

    with progress.phase("prerequisites") as phase:
        check_prerequisites()
        network = site_network(site)  # a model the rehearsal cannot host fails here, before any change
        report.network = network
        phase.done(f"podman, debootstrap, runc, ssh present; network {network.subnet} from {network.source}")
    with exclusive(site_lock(site.site.name), f"the rehearsal of site {site.site.name}"):
        return _bring_up_locked(
            site, paths, network, report, progress, started, skip_rollout, skip_smoke, check, keep_stopped,
            playbook_args or [],
        )


def require_running_site(podman: Podman, site: Site, specs: list[ContainerSpec]) -> None:
    """--check dry-runs the rollout on the site as it is: every host's container must be up, as specified."""
    existing = site_containers(podman, site.site.name)
    missing = [
        spec.host
        for spec in specs
        if spec.name not in existing
        or not existing[spec.name].running
        or existing[spec.name].spec_hash != spec.spec_hash()
    ]
    if missing:
        raise RehearsalInputError(
            f"--check dry-runs the rollout on the running rehearsal of {site.site.name}, but host(s) "
            f"{', '.join(missing)} have no running container as the model describes them: "
            f"run `qpusite up {site.site.name}` first"
        )


def site_lock(site_name: str) -> Path:
    return state_dir() / "locks" / f"site-{site_name}.lock"


def _bring_up_locked(
    site: Site,
    paths: SitePaths,
    network: NetworkSpec,
    report: UpReport,
    progress: Progress,
    started: float,
    skip_rollout: bool,
    skip_smoke: bool,
    check: bool = False,
    keep_stopped: bool = False,
    playbook_args: list[str] | None = None,
) -> UpReport:
    podman = podman_for_project()

    with progress.phase("image") as phase:
        phase.update("building the node image with debootstrap (once; ~1–2 min)")
        image = ensure_image(podman, paths.reports_dir / f"image-{_timestamp()}.log")
        report.image = image.reference
        phase.done(f"{image.reference} {'built' if image.built else 'cached'}")

    with progress.phase("network") as phase:
        action = ensure_network(podman, network)
        phase.done(f"{network.name} {network.subnet} {action}")

    with progress.phase("hosts") as phase:
        public_key = ensure_key_pair(paths.private_key, f"qpusite-rehearsal-{site.site.name}")
        specs = container_specs(site, network, image.reference)
        if check:
            require_running_site(podman, site, specs)
        report.container_actions = ensure_containers(podman, site, specs, public_key, keep_stopped)
        report.down = sorted(h for h, a in report.container_actions.items() if a == KEPT_STOPPED)
        added = ensure_secrets(paths.secrets_file, vaulted_variables(site))
        if added:
            phase.note(f"generated rehearsal secrets {', '.join(added)} in {display_path(paths.secrets_file)}")
        if site.facility.network.tls.enabled:
            issued = ensure_site_ca(paths.tls_dir, site)
            put_secrets(paths.secrets_file, issued.secrets)
            if issued.ca_created or issued.issued:
                phase.note(
                    f"site CA {display_path(issued.ca_certificate)} ({'new' if issued.ca_created else 'kept'}); "
                    f"certificates issued for {', '.join(issued.issued) or 'no host'}"
                )
        by_action: dict[str, int] = {}
        for action in report.container_actions.values():
            by_action[action] = by_action.get(action, 0) + 1
        phase.done(", ".join(f"{n} {a}" for a, n in sorted(by_action.items())))

    ssh = Ssh(paths.private_key, paths.known_hosts)
    targets = ssh_targets(site)
    running = [s for s in specs if s.host not in report.down]
    with progress.phase("ssh") as phase:
        phase.update(f"reading the SSH host keys of {len(running)} container(s)")
        collect_host_keys(podman, running, paths.known_hosts)
        phase.update(f"waiting for {len(running)} host(s) to accept SSH")
        report.ssh_seconds = ssh.wait_ready([t for h, t in targets.items() if h not in report.down])
        if report.down:
            phase.note(f"left stopped (--keep-stopped): {', '.join(report.down)}")
        phase.done(
            f"{len(targets)} host(s) accept SSH with {display_path(paths.private_key)}, host keys pinned in "
            f"{display_path(paths.known_hosts)}"
        )

    if skip_rollout:
        progress.skipped("rollout", "--skip-rollout: hosts are ready for ansible-playbook")
        report.notes.append(_next_step(paths))
        report.seconds = time.monotonic() - started
        return report
    if not paths.playbook.is_file():
        progress.skipped("rollout", f"{display_path(paths.playbook)} does not exist yet: stopping with the hosts ready")
        report.notes.append(_next_step(paths))
        report.seconds = time.monotonic() - started
        return report

    with progress.phase("rollout --check" if check else "rollout") as phase:
        # --check --diff: what a re-run would change, changing nothing (a converged site shows changed=0)
        command = playbook_command(paths, (["--check", "--diff"] if check else []) + (playbook_args or []))
        log = paths.reports_dir / f"rollout-{'check-' if check else ''}{_timestamp()}.log"
        counter = {"tasks": 0}

        def on_line(line: str) -> None:
            if line.startswith("PLAY ["):
                phase.note(line.rstrip("* ").strip())
            elif line.startswith("TASK ["):
                counter["tasks"] += 1
                phase.update(f"task {counter['tasks']}: {line[6:].split(']')[0]}")

        report.rollout = run_playbook(command, log, on_line)
        counts = totals(report.rollout.recap)
        phase.done(
            f"ok={counts['ok']} changed={counts['changed']} failed={counts['failed']} "
            f"unreachable={counts['unreachable']} (exit {report.rollout.returncode}); log {display_path(log)}"
        )

    if skip_smoke or not report.ok:
        why = "--skip-smoke" if skip_smoke else "the rollout failed"
        progress.skipped("smoke", why)
    else:
        with progress.phase("smoke") as phase:
            gone = set(report.rollout.unavailable) if report.rollout else set()
            report.smoke = run_smoke(site, ssh, targets, network, phase.update, gone)
            passed = sum(1 for r in report.smoke if r.ok)
            failed = sum(1 for r in report.smoke if r.ok is False)
            phase.done(f"{passed} passed, {failed} failed")
    report.seconds = time.monotonic() - started
    return report


def run_smoke(
    site: Site,
    ssh: Ssh,
    targets: dict[str, SshTarget],
    network: NetworkSpec,
    say: Callable[[str], None] = lambda _text: None,
    unavailable: set[str] | None = None,
) -> list[smoke.SmokeResult]:
    """The smoke checks, on the hosts the rollout reached (`unavailable`: hosts it went without)."""
    gone = unavailable or set()
    results: list[smoke.SmokeResult] = []
    controllers = site.hosts_with(HostRole.controller)
    logins = [h for h in site.hosts_with(HostRole.login) if h.name not in gone] or controllers
    computes = [h.name for h in site.hosts_with(HostRole.compute) if h.name not in gone]
    if site.software.scheduler.kind == "gridengine":
        results.extend(_gridengine_smoke(site, ssh, targets, controllers, logins, computes, say))
    elif controllers and computes:
        say("waiting for every Slurm node to be idle")
        results.append(smoke.slurm_nodes_idle(ssh, targets[controllers[0].name], computes))
    else:
        results.append(smoke.SmokeResult("slurm nodes idle", None, "no controller or compute host in the model"))
    if site.software.scheduler.kind == "gridengine":
        pass  # above
    elif logins and computes and site.qpus:
        say("running a job that holds a QPU license")
        brokered = [q.name for q in site.qpus]
        results.append(smoke.qpu_license_job(ssh, targets[logins[0].name], brokered))
    else:
        results.append(smoke.SmokeResult("QPU license job", None, "no login host, compute host or QPU in the model"))
    monitors = site.hosts_with(HostRole.monitoring)
    if monitors:
        say("waiting for every Prometheus target to be up")
        port = site.software.monitoring.prometheus_port
        skipped = {h.address for h in site.hosts if h.name in gone}
        results.append(smoke.prometheus_targets_up(monitors[0].address, port, network.subnet, skip_addresses=skipped))
    else:
        results.append(smoke.SmokeResult("prometheus targets up", None, "no monitoring host in the model"))
    return results


def _gridengine_smoke(
    site: Site,
    ssh: Ssh,
    targets: dict[str, SshTarget],
    controllers: list[Host],
    logins: list[Host],
    computes: list[str],
    say: Callable[[str], None],
) -> list[smoke.SmokeResult]:
    """The Grid Engine counterparts of the Slurm checks: execution hosts report, a QPU complex job runs (as the
    model's first account: Grid Engine refuses root's jobs)."""
    results: list[smoke.SmokeResult] = []
    if controllers and computes:
        say("waiting for every Grid Engine execution host to report")
        results.append(smoke_gridengine.gridengine_hosts_up(ssh, targets[controllers[0].name], computes))
    else:
        results.append(smoke.SmokeResult("gridengine hosts up", None, "no controller or compute host in the model"))
    users = [a.name for a in site.software.accounts]
    if logins and computes and site.qpus and users:
        qpu = site.qpus[0].name
        say(f"running a job that holds the qpu_{qpu} complex, as {users[0]}")
        results.append(smoke_gridengine.qpu_complex_job(ssh, targets[logins[0].name], qpu, users[0]))
    else:
        results.append(smoke.SmokeResult(
            "QPU complex job", None, "no login host, compute host, QPU or account (software.accounts) in the model"
        ))
    return results


def _next_step(paths: SitePaths) -> str:
    return (
        "run the rollout yourself: .venv/bin/ansible-playbook -i "
        f"{display_path(paths.site_file)} site.yml -e @{display_path(paths.secrets_file)} "
        f"-e ansible_ssh_extra_args=-oUserKnownHostsFile={display_path(paths.known_hosts)}"
    )
