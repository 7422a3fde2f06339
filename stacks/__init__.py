"""Pulumi programs that provision a site's cloud side from its site model.

Each program directory (ovh/, kubernetes/) has its own Pulumi.yaml and
__main__.py so the pulumi CLI can run it; the resource graph is built from
ComponentResources in importable modules so unit tests can drive it with
Pulumi's mocks.
"""
