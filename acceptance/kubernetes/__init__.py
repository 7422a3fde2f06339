"""Acceptance of a site's Kubernetes deployment (stacks/kubernetes), with the
`kubernetes` client: pods ready, services answering, network policies present.
Where no cluster is reachable every check is skipped with the reason."""
