"""Rehearse a site's rollout on local systemd containers (`qpusite up` / `qpusite down`).

One podman container stands in for each host of the site model, on a podman
network whose subnet is the site's own; the real `site.yml` then runs against
them over SSH exactly as it would against the site's machines.
"""
