"""The CURVE keys of the bridges: ZeroMQ's own encryption and authentication (CurveZMQ),
for a bridge that crosses a network someone else can reach.

Each engine has a key pair: NAME.key, its public key, to give to the other side;
NAME.key_secret, its secret one, kept (mode 0600). Both are ZeroMQ's certificate files
(zmq.auth), written by `tickpipe bridge-keys NAME`. Then:

  out bridge  secret_key  = its own NAME.key_secret (the server's key pair)
              client_keys = a folder of the public .key files of the in bridges it lets
                            in; any other is refused in the handshake (ZeroMQ's ZAP)
  in bridge   secret_key  = its own NAME.key_secret
              server_key  = the out bridge's public NAME.key

With neither set the link is plain TCP, as before; with one of a pair and not the other
the engine does not start (one line). Every message is encrypted and authenticated
with the session's keys either way; what CURVE does not hide is that two hosts talk.
"""

import os

OUT_KEYS = ("secret_key", "client_keys")
IN_KEYS = ("secret_key", "server_key")


def make_keys(name: str, folder: str) -> tuple[str, str]:
    """A new key pair: (the public file, the secret file), in `folder`; an existing pair of
    that name is not overwritten (ValueError)."""
    import zmq.auth
    for suffix in (".key", ".key_secret"):
        path = os.path.join(folder, name + suffix)
        if os.path.exists(path):
            raise ValueError(f"{path} exists: a key pair is not overwritten (a peer may "
                             f"hold its public key); remove it or choose another name")
    os.makedirs(folder, exist_ok=True)
    public, secret = zmq.auth.create_certificates(folder, name)
    os.chmod(secret, 0o600)
    return public, secret


def _certificate(path: str, secret: bool) -> tuple[bytes, bytes | None]:
    import zmq.auth
    if not os.path.isfile(path):
        raise ValueError(f"{path!r} is not a file")
    try:
        public, secret_key = zmq.auth.load_certificate(path)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path!r} is not a key file of `tickpipe bridge-keys` ({exc})") \
            from None
    if secret and secret_key is None:
        raise ValueError(f"{path!r} holds a public key only: give the .key_secret file")
    return public, secret_key


def secret_pair(path: str) -> tuple[bytes, bytes]:
    """(public, secret) of a .key_secret file; ValueError, one line, when it is not one."""
    return _certificate(path, secret=True)


def public_key(path: str) -> bytes:
    """The public key of a .key file; a .key_secret is refused: the secret key stays on
    its own host, the other one needs only the public file."""
    public, secret = _certificate(path, secret=False)
    if secret is not None:
        raise ValueError(f"{path!r} holds a secret key: give the other engine's public "
                         f".key file (its .key_secret stays on its host)")
    return public


def client_folder_problem(folder: str) -> str:
    """Why the out bridge's folder of allowed public keys cannot be used, "" when it can."""
    if not os.path.isdir(folder):
        return f"{folder!r} is not a folder (of the in bridges' public .key files)"
    keys = [name for name in os.listdir(folder) if name.endswith(".key")]
    if not keys:
        return f"{folder!r} holds no public .key file: no in bridge could connect"
    for name in keys:
        try:
            public_key(os.path.join(folder, name))
        except ValueError as exc:
            return str(exc)
    return ""


def curve_settings(settings: dict, keys: tuple[str, str]) -> str:
    """Why a bridge's key settings cannot be used ("" when they can, or when neither is
    set): both of a pair, each file or folder readable as what it must be."""
    given = [key for key in keys if settings.get(key)]
    if not given:
        return ""
    if len(given) == 1:
        missing = next(key for key in keys if key not in given)
        return f"{given[0]} is set and {missing} is not: CURVE needs both (docs/bridges.md)"
    try:
        secret_pair(settings["secret_key"])
        if "server_key" in keys:
            public_key(settings["server_key"])
    except ValueError as exc:
        return str(exc)
    if "client_keys" in keys:
        return client_folder_problem(settings["client_keys"])
    return ""


def curve_of(settings: dict, keys: tuple[str, str]) -> dict | None:
    """What the Link sets on its socket: None (plain TCP), or the key pair and either the
    server's public key (an in bridge) or the folder of allowed clients (an out bridge)."""
    if not settings.get(keys[0]):
        return None
    public, secret = secret_pair(settings["secret_key"])
    curve = {"public": public, "secret": secret}
    if "server_key" in keys:
        curve["server"] = public_key(settings["server_key"])
    else:
        curve["clients"] = settings["client_keys"]
    return curve
