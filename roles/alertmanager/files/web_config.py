# Alertmanager's --web.config.file with one basic-auth user, its password (read from stdin) bcrypt-hashed.
# argv: check|write WEB_CONFIG USER. Prints "unchanged" when WEB_CONFIG already names USER with a hash of the
# password (nothing is written), else "changed" (and writes it, unless check). The file is 0640 root:prometheus
# when the group exists (Alertmanager runs as prometheus), else 0644 root:root: it holds only the bcrypt hash.
import crypt
import grp
import os
import sys

mode, web_config, user = sys.argv[1:4]
password = sys.stdin.read()
if not password:
    sys.exit("no password on stdin")
try:
    with open(web_config, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
except FileNotFoundError:
    lines = []
current = [line.split(":", 1)[1].strip().strip("'\"") for line in lines if line.strip().startswith(user + ":")]
same_user = lines and lines[0] == "basic_auth_users:" and len(lines) == 2 and current
if same_user and crypt.crypt(password, current[0]) == current[0]:
    print("unchanged")
    sys.exit(0)
print("changed")
if mode != "write":
    sys.exit(0)
# bcrypt (crypt's "Blowfish" method): the one hash Alertmanager's web configuration accepts
hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 10))  # noqa: S324
if not hashed or not hashed.startswith("$2"):
    sys.exit("this host's crypt() has no bcrypt")
try:
    gid, file_mode = grp.getgrnam("prometheus").gr_gid, 0o640
except KeyError:
    gid, file_mode = 0, 0o644
tmp = web_config + ".tmp"
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w", encoding="utf-8") as handle:
    handle.write(f"basic_auth_users:\n  {user}: '{hashed}'\n")
os.chown(tmp, 0, gid)
os.chmod(tmp, file_mode)
os.replace(tmp, web_config)
