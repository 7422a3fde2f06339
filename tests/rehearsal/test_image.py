from __future__ import annotations

from rehearsal import image


def test_reference_is_tagged_by_the_recipe_hash():
    ref = image.image_reference()
    assert ref.startswith("localhost/qpusite-node:")
    assert ref.split(":")[1] == image.recipe_hash()
    assert len(image.recipe_hash()) == 12


def test_any_recipe_change_changes_the_tag():
    base = image.recipe()
    more = dict(base, packages=[*base["packages"], "vim"])
    other_suite = dict(base, suite="trixie")
    assert len({image.recipe_hash(base), image.recipe_hash(more), image.recipe_hash(other_suite)}) == 3
    assert image.recipe_hash(dict(base)) == image.recipe_hash(base)


def test_recipe_has_what_ansible_and_systemd_need():
    for needed in ("systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "python3-apt", "sudo"):
        assert needed in image.PACKAGES
    assert 'CMD ["/sbin/init"]' in image.IMPORT_CHANGES
    assert "STOPSIGNAL SIGRTMIN+3" in image.IMPORT_CHANGES


def test_customised_rootfs_has_no_shared_host_keys_and_a_fresh_machine_id(tmp_path):
    ssh = tmp_path / "etc" / "ssh"
    ssh.mkdir(parents=True)
    (ssh / "ssh_host_ed25519_key").write_text("secret")
    (ssh / "sshd_config").write_text("config")
    (tmp_path / "etc" / "machine-id").write_text("0123456789abcdef\n")
    (tmp_path / "var" / "cache" / "apt" / "archives").mkdir(parents=True)
    image._customise(tmp_path)
    assert not (ssh / "ssh_host_ed25519_key").exists()
    assert (ssh / "sshd_config").exists()
    assert (tmp_path / "etc" / "machine-id").read_text() == ""
    unit = tmp_path / "etc/systemd/system/multi-user.target.wants" / image.HOSTKEY_UNIT_NAME
    assert unit.is_symlink()
    assert "ssh-keygen -A" in (tmp_path / "etc/systemd/system" / image.HOSTKEY_UNIT_NAME).read_text()
