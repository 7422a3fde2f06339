"""Emulated QPUs (digital twins) behind the vendors' own HTTP APIs.

One service serves every twin of an emulator host: IBM IAM + Quantum Compute
Service for gate-based twins (qiskit-aer), Pasqal Cloud for neutral-atom twins
(pulser-simulation). Unchanged QRMI code and vendor SDKs talk to it.
"""

__version__ = "0.1.0"
