"""The FIX logon's username and password (Username 553, Password 554).

From the environment (TICKPIPE_FIX_USERNAME, TICKPIPE_FIX_PASSWORD), or from a file
whose path is TICKPIPE_FIX_CREDENTIALS or [venue] credentials_file: two lines,
`username = ...` and `password = ...`. The file must be the owner's alone (mode 0600 or
stricter): a password others can read is refused, as ssh refuses such a key. Neither is
ever in the config, nor in a log: QuickFIX's message log would write the Logon, so the
sessions here keep no message log (workers/fix_venue/settings.py).
"""

import os
import stat
from typing import NamedTuple

ENV_USERNAME = "TICKPIPE_FIX_USERNAME"
ENV_PASSWORD = "TICKPIPE_FIX_PASSWORD"
ENV_FILE = "TICKPIPE_FIX_CREDENTIALS"


class CredentialsError(Exception):
    """Credentials that cannot be used: one line, never the password."""


class Credentials(NamedTuple):
    username: str
    password: str

    def __repr__(self) -> str:  # a traceback or a log line must not show it
        return f"Credentials(username={self.username!r}, password=<hidden>)"

    __str__ = __repr__


def read_credentials_file(path: str) -> Credentials:
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise CredentialsError(f"credentials file {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialsError(f"credentials file {path}: mode {stat.S_IMODE(mode):04o} lets "
                               f"others read it; chmod 600 {path}")
    values = {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if not sep or key.strip() not in ("username", "password"):
                raise CredentialsError(f"credentials file {path} line {number}: expected "
                                       "'username = ...' or 'password = ...'")
            values[key.strip()] = value.strip()
    missing = [k for k in ("username", "password") if not values.get(k)]
    if missing:
        raise CredentialsError(f"credentials file {path}: no {' or '.join(missing)}")
    return Credentials(values["username"], values["password"])


def load_credentials(path: str | None = None, required: bool = True) -> Credentials | None:
    """The environment's credentials, else the file's (`path`, else $TICKPIPE_FIX_CREDENTIALS);
    None when there are none and they are not required."""
    username, password = os.environ.get(ENV_USERNAME), os.environ.get(ENV_PASSWORD)
    if username and password:
        return Credentials(username, password)
    if username or password:
        raise CredentialsError(f"set both {ENV_USERNAME} and {ENV_PASSWORD}, or neither")
    path = path or os.environ.get(ENV_FILE)
    if path:
        return read_credentials_file(os.path.expanduser(path))
    if required:
        raise CredentialsError(f"no FIX credentials: set {ENV_USERNAME} and {ENV_PASSWORD}, "
                               f"or {ENV_FILE} (or [venue] credentials_file) to a file of mode "
                               "0600 with 'username = ...' and 'password = ...'")
    return None
