"""The OVH/OpenStack program: private network, least-privilege security
groups, keypair, one VM per cloud host, the hybrid link, and optional OVH
services (vRack, managed Kubernetes) and object storage."""
