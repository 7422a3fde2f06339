"""The service's shared state: configuration, records, tokens, queue, metrics."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from qpu_emulator.auth import Authority, Principal, load_signing_key
from qpu_emulator.checker import CheckerPool
from qpu_emulator.config import Config, Twin
from qpu_emulator.errors import ApiError
from qpu_emulator.limits import Bounds
from qpu_emulator.metrics import Metrics
from qpu_emulator.scheduler import Scheduler
from qpu_emulator.store import Store

API_NAMES = {
    "ibm": "IBM Quantum",
    "pasqal-cloud": "Pasqal Cloud",
    "iqm-server": "IQM Server",
    "ibm-quantum-system": "IBM Quantum System",
}


class Service:
    def __init__(self, config: Config) -> None:
        self.config = config
        # Test-only requests that crash a checker on purpose; never set by the role.
        self.test_hooks = os.environ.get("QPU_EMULATOR_TEST_HOOKS") == "1"
        Path(config.state_dir).mkdir(parents=True, exist_ok=True)
        self.store = Store(Path(config.state_dir) / "jobs.sqlite3")
        self.auth = Authority(config, load_signing_key(config))
        self.metrics = Metrics()
        self.metrics.watch_jobs(self.store.counts_by_twin_state, [t.name for t in config.twins])
        self.scheduler = Scheduler(config, self.store, self.metrics)
        lim = config.limits
        self._specs: dict[str, str] = {}
        self.checkers = CheckerPool(config.checkers, lim.checker_memory_bytes, lim.check_timeout_s)

    def start(self) -> None:
        self.store.purge(self.config.retention.max_jobs, self.config.retention.max_age_s)
        self.checkers.start()
        self.scheduler.start()

    def stop(self) -> None:
        self.checkers.stop()
        self.scheduler.stop()
        self.store.close()

    def device_specs(self, twin: Twin) -> str:
        """A Pasqal twin's device specs (Pulser's abstract representation), built once in a checker:
        Pulser objects are never built in this process."""
        assert twin.pulser_device is not None
        key = twin.pulser_device.model_dump_json()
        specs = self._specs.get(key)
        if specs is None:
            specs = self._specs[key] = str(self.checkers.check(("pasqal-specs", key)))
        return specs

    @property
    def s3_endpoints(self) -> list[str]:
        """The stores IBM Quantum System jobs may name, as scheme://host:port."""
        from qpu_emulator.s3_links import normalise_endpoint

        return [normalise_endpoint(u) for u in self.config.s3_endpoints]

    def bounds(self, twin: Twin) -> Bounds:
        lim = self.config.limits
        return Bounds(twin.num_qubits, lim.max_clbits, lim.max_instructions, lim.max_inflated_bytes)

    def twin_for(self, name: str, api: str, principal: Principal, what: str = "Backend") -> Twin:
        """The twin called `name` on this API that the caller may use; 404/403 otherwise."""
        twin = self.config.twin(name)
        if twin is None or twin.api != api:
            known = ", ".join(t.backend_name for t in self.config.twins if t.api == api) or "none"
            raise ApiError(404, f"{what} {name!r} is not served by this emulator (known: {known}).")
        if not principal.may_use(twin.name):
            raise ApiError(403, f"Your credentials do not give access to {what.lower()} {name!r}.")
        return twin

    def twins(self, api: str, principal: Principal | None = None) -> list[Twin]:
        return [t for t in self.config.twins if t.api == api and (principal is None or principal.may_use(t.name))]

    @staticmethod
    def new_id() -> str:
        return str(uuid.uuid4())
