"""The FIX logon's username and password (Username 553, Password 554).

From a file named by an option (`--credentials`), else the environment
(TICKPIPE_FIX_USERNAME, TICKPIPE_FIX_PASSWORD), else a file named by
TICKPIPE_FIX_CREDENTIALS. The file holds two lines,
`username = ...` and `password = ...`. The file must be the owner's alone (mode 0600 or
stricter): a password others can read is refused, as ssh refuses such a key. Neither is
ever in the config, nor in a log: QuickFIX's message log would write the Logon, so the
sessions here keep none, and its file store, which keeps the Logon it sent, is in a
directory of mode 0700 (workers/fix_venue/settings.py).
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
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError:
        raise CredentialsError(f"credentials file {path}: not UTF-8 text") from None
    except OSError as exc:
        raise CredentialsError(f"credentials file {path}: {exc.strerror}") from None
    for number, line in enumerate(lines, 1):
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
    """The file named here (`path`: an option or the config, which is explicit and wins),
    else the environment's, else $TICKPIPE_FIX_CREDENTIALS's file; None when there are
    none and they are not required."""
    if path:
        return read_credentials_file(os.path.expanduser(path))
    username, password = os.environ.get(ENV_USERNAME), os.environ.get(ENV_PASSWORD)
    if username and password:
        return Credentials(username, password)
    if username or password:
        raise CredentialsError(f"set both {ENV_USERNAME} and {ENV_PASSWORD}, or neither")
    path = os.environ.get(ENV_FILE)
    if path:
        return read_credentials_file(os.path.expanduser(path))
    if required:
        raise CredentialsError(f"no FIX credentials: set {ENV_USERNAME} and {ENV_PASSWORD}, "
                               f"or {ENV_FILE} (or [venue] credentials_file) to a file of mode "
                               "0600 with 'username = ...' and 'password = ...'")
    return None
