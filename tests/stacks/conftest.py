"""Pulumi mocks for the stack tests: every resource the programs declare is
recorded with the inputs the engine would receive, and the few outputs the
programs read back (floating IP addresses, vRack ids, kubeconfig) are filled
in deterministically. Every test using them is decorated with
@pulumi.runtime.test (an undecorated one would silently pass)."""

from __future__ import annotations

import asyncio
import copy
import subprocess
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

# The provider SDKs announce their own renamed resources when first imported;
# not ours to fix. Importing them once here, quietly, keeps the test output clean.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import pulumi_kubernetes  # noqa: F401
    import pulumi_openstack  # noqa: F401
    import pulumi_ovh  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
OVH_CLOUD = REPO / "inventories" / "ovh-cloud" / "site.yaml"
HYBRID = REPO / "inventories" / "hybrid" / "site.yaml"


@dataclass
class Recorded:
    type: str
    name: str
    inputs: dict[str, Any]
    custom: bool
    provider: str | None = None


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[Recorded] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._addresses = 0

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self.resources.append(
            Recorded(args.typ, args.name, dict(args.inputs), bool(args.custom), getattr(args, "provider", None))
        )
        state = dict(args.inputs)
        if args.typ == "openstack:networking/floatingIp:FloatingIp":
            self._addresses += 1
            state["address"] = f"203.0.113.{100 + self._addresses}"
        elif args.typ == "ovh:CloudProject/networkPrivate:NetworkPrivate":
            regions = args.inputs.get("regions", [])
            state["regionsAttributes"] = [
                {"region": r, "openstackid": f"os-net-{r.lower()}", "status": "ACTIVE"} for r in regions
            ]
        elif args.typ == "ovh:CloudProject/kube:Kube":
            state["kubeconfig"] = "apiVersion: v1\nkind: Config\n"
        elif args.typ == "pulumi:pulumi:StackReference":
            # what the ovh program's stack would export
            state = {"name": args.inputs.get("name"), "outputs": {"kubeconfig": "apiVersion: v1\nkind: Config\n"}}
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        self.calls.append((args.token, dict(args.args)))
        if args.token == "openstack:networking/getNetwork:getNetwork":
            return {"id": f"ext-{args.args.get('name')}", "name": args.args.get("name")}
        if args.token == "openstack:networking/getSubnet:getSubnet":
            return {"id": f"subnet-of-{args.args.get('networkId')}", "cidr": args.args.get("cidr")}
        return {}

    # helpers for assertions -------------------------------------------------
    def of_type(self, typ: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == typ]

    def named(self, name: str) -> Recorded:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"{name}: {len(found)} resources"
        return found[0]


def settled(*outputs: Any) -> pulumi.Output[list[Any]]:
    """An Output that resolves once every resource registered so far has been
    recorded (and to the given outputs' values). Checks chained on it see the
    whole graph, not whatever registered before the first output resolved."""
    from pulumi.runtime.stack import wait_for_rpcs

    async def registrations_done() -> None:
        await wait_for_rpcs(await_all_outstanding_tasks=False)

    done = pulumi.Output.from_input(asyncio.ensure_future(registrations_done()))
    return pulumi.Output.all(done, *outputs).apply(lambda values: values[1:])


@pytest.fixture
def mocks() -> Iterator[RecordingMocks]:
    recording = RecordingMocks()
    pulumi.runtime.set_mocks(recording, project="qpusite-test", stack="test", preview=False)
    yield recording


@pytest.fixture(scope="session")
def ssh_public_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real OpenSSH key pair made with ssh-keygen, so the key checks see a genuine .pub file."""
    directory = tmp_path_factory.mktemp("ssh")
    key = directory / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key.with_suffix(".pub")


def _document(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


@pytest.fixture
def ovh_cloud_doc() -> dict[str, Any]:
    return copy.deepcopy(_document(OVH_CLOUD))


@pytest.fixture
def hybrid_doc() -> dict[str, Any]:
    return copy.deepcopy(_document(HYBRID))
