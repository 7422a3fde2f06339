"""The kit's own facts, written once: components (host roles, units, packages, ports,
configuration files) and QRMI resource types (settings, secrets, endpoint mapping).

Every consumer reads them from here: derive (feature groups, endpoint settings),
validation (ports, per-type QRMI rules), the cloud security rules, the Kubernetes
network policies, acceptance expectations and the service configurations
(site_survey/service_configs.py).
"""

from site_survey.catalogue.qrmi_types import GENERATED_TYPES, QRMI_TYPES, QrmiTypeSpec, qrmi_type

__all__ = ["GENERATED_TYPES", "QRMI_TYPES", "QrmiTypeSpec", "qrmi_type"]
