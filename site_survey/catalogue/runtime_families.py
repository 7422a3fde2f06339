"""Vendor runtime families: which Python environment on compute and login nodes a job uses for a
QPU's type (the catalogue's `QrmiTypeSpec.runtime_family`), and what goes into it.

qrmi's vendor extras pull the vendors' SDKs and do not all fit one environment. Resolved with pip
for qrmi 0.26.4 (December 2026): `qrmi[ibm]` alone gives qiskit 2.6.2 and qiskit-ibm-runtime
0.51.0; `qrmi[pasqal]` alone qiskit 2.6.2, pulser-core 1.9.1, pasqal-cloud 0.24.0; `qrmi[ibm,pasqal]`
the very same versions, so those two families share the site's main runtime. `qrmi[iqm]` pins
`iqm-client[qiskit]~=35.0` and `qiskit-ibm-runtime<0.46`, which resolves to qiskit 2.1.2 and
qiskit-ibm-runtime 0.45.1: installed next to `qrmi[ibm]` it would silently downgrade IBM's SDK
(and lose what 0.46-0.51 added), so IQM gets an environment of its own. `qrmi[alice-bob]` needs
Qiskit < 2: its own environment too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuntimeFamily:
    name: str  # also the environment's suffix and `qpu-env <name>`
    qrmi_extra: str  # qrmi[<extra>]
    # further requirements of the family's environment (names resolvable from the wheelhouse)
    packages: tuple[str, ...] = ()
    # True: installed into the site's main runtime with the other sharing families;
    # False: an environment of its own, <runtime prefix>-<name>
    shares_main: bool = True


RUNTIME_FAMILIES: dict[str, RuntimeFamily] = {
    f.name: f
    for f in (
        RuntimeFamily("ibm", "ibm"),
        RuntimeFamily("pasqal", "pasqal"),
        RuntimeFamily("iqm", "iqm", shares_main=False),
        RuntimeFamily("alice-bob", "alice-bob", shares_main=False),
    )
}
