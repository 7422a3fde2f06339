"""The Kubernetes program: the site's emulated QPUs, the QRMI daemon and
Prometheus (with the site's alert rules) as Kubernetes objects. Manifests are
plain dicts built from the model (validated strictly in tests) and handed to
pulumi-kubernetes unchanged."""
