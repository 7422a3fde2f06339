"""qrmid — the QRMI daemon: brokers QPU access for batch jobs through the qrmi library."""

__version__ = "0.1.0"
