from __future__ import annotations

import base64
import stat

import yaml

from rehearsal.secrets_file import MUNGE_KEY_VARIABLE, ensure_secrets, vaulted_variables


def test_every_vaulted_variable_of_the_model_plus_the_munge_key(make_site):
    assert vaulted_variables(make_site()) == [
        "vault_lab_fresnel_token", "vault_lab_sc_twin_apikey", "vault_lab_spark_token", "vault_munge_key",
        "vault_slurmdbd_storage_password",
    ]


def test_generated_file_is_private_and_complete(tmp_path, make_site):
    path = tmp_path / ".rehearsal" / "secrets.yml"
    added = ensure_secrets(path, vaulted_variables(make_site()))
    assert added == vaulted_variables(make_site())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    values = yaml.safe_load(path.read_text())
    assert len(base64.b64decode(values[MUNGE_KEY_VARIABLE], validate=True)) == 1024
    assert len(values["vault_lab_sc_twin_apikey"]) >= 32
    assert values["vault_lab_sc_twin_apikey"] != values["vault_lab_fresnel_token"]


def test_values_are_kept_across_runs(tmp_path, make_site):
    path = tmp_path / "secrets.yml"
    variables = vaulted_variables(make_site())
    ensure_secrets(path, variables)
    first = path.read_text()
    assert ensure_secrets(path, variables) == []
    assert path.read_text() == first


def test_a_new_variable_is_added_without_touching_the_others(tmp_path):
    path = tmp_path / "secrets.yml"
    ensure_secrets(path, ["vault_a", MUNGE_KEY_VARIABLE])
    before = yaml.safe_load(path.read_text())
    assert ensure_secrets(path, ["vault_a", "vault_b", MUNGE_KEY_VARIABLE]) == ["vault_b"]
    after = yaml.safe_load(path.read_text())
    assert after["vault_a"] == before["vault_a"] and after[MUNGE_KEY_VARIABLE] == before[MUNGE_KEY_VARIABLE]
    assert after["vault_b"]


def test_loose_permissions_are_tightened(tmp_path):
    path = tmp_path / "secrets.yml"
    ensure_secrets(path, ["vault_a"])
    path.chmod(0o644)
    ensure_secrets(path, ["vault_a"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
