"""QuickFIX settings files: read, checked, completed with our defaults, handed to QuickFIX.

A settings file is QuickFIX's own format ([DEFAULT], then one [SESSION]; key=value), so a
venue's onboarding sheet maps onto it line by line. What we fill in when it is left out:
the FIX44 dictionary QuickFIX ships (UseDataDictionary=Y: both ends check every message
against it), a session open all day, and a file store (sequence numbers survive a
restart: a reconnect asks for and fills the gap instead of resetting). What we refuse:
any BeginString but FIX.4.4, a file with no or several sessions, a missing host, port
or comp id (one line each). No message log is configured: the Logon carries the
password (workers/fix_venue/credentials.py).
"""

import glob
import os
import re
import sys
import tempfile
from typing import NamedTuple

import quickfix as fix

BEGIN_STRING = "FIX.4.4"
TIME_OF_DAY = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]")
DEFAULTS = {"StartTime": "00:00:00", "EndTime": "00:00:00", "UseDataDictionary": "Y",
            "HeartBtInt": "30", "ReconnectInterval": "5", "LogonTimeout": "10",
            "ValidateUserDefinedFields": "N"}


class SettingsError(Exception):
    """A settings file we cannot run: one line."""


class SessionSettings(NamedTuple):
    settings: object         # quickfix.SessionSettings
    session_id: object       # quickfix.SessionID
    values: dict             # the session's merged key=value (our defaults filled in)
    path: str                # the completed file QuickFIX read

    @property
    def address(self) -> str:
        v = self.values
        if v["ConnectionType"] == "initiator":
            return f"{v['SocketConnectHost']}:{v['SocketConnectPort']}"
        return f"0.0.0.0:{v['SocketAcceptPort']}"  # every interface (QuickFIX 1.16)


def spec_path() -> str:
    """QuickFIX's FIX44.xml, as the installed package ships it."""
    here = os.path.dirname(os.path.abspath(fix.__file__))
    for root in (sys.prefix, os.path.dirname(os.path.dirname(os.path.dirname(here))), here):
        for candidate in (os.path.join(root, "share", "quickfix", "FIX44.xml"),
                          os.path.join(root, "quickfix", "FIX44.xml"),
                          os.path.join(root, "FIX44.xml")):
            if os.path.exists(candidate):
                return candidate
    found = glob.glob(os.path.join(sys.prefix, "**", "FIX44.xml"), recursive=True)
    if found:
        return found[0]
    raise SettingsError("QuickFIX's FIX44.xml was not found beside the quickfix package "
                        "(reinstall it: pip install 'tickpipe[fix]')")


def parse(text: str, origin: str) -> tuple[dict, list[dict]]:
    """The [DEFAULT] section and each [SESSION], as dicts."""
    default, sessions, current = {}, [], None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            name = line[1:-1].strip().upper()
            if name == "DEFAULT":
                current = default
            elif name == "SESSION":
                current = {}
                sessions.append(current)
            else:
                raise SettingsError(f"{origin} line {number}: unknown section [{name}] "
                                    "(QuickFIX has [DEFAULT] and [SESSION])")
            continue
        key, sep, value = line.partition("=")
        if not sep or current is None:
            raise SettingsError(f"{origin} line {number}: expected key=value inside "
                                "[DEFAULT] or [SESSION]")
        current[key.strip()] = value.strip()
    return default, sessions


def render(values: dict) -> str:
    keys = [k for k in values if k not in ("BeginString", "SenderCompID", "TargetCompID")]
    return "\n".join(["[DEFAULT]"] + [f"{k}={values[k]}" for k in keys] + [
        "", "[SESSION]", f"BeginString={values['BeginString']}",
        f"SenderCompID={values['SenderCompID']}", f"TargetCompID={values['TargetCompID']}", ""])


def complete(values: dict, origin: str, store_root: str | None = None) -> dict:
    """The session's values with our defaults, checked."""
    values = {**DEFAULTS, **values}
    tls = sorted(k for k in values if k.startswith("SSL"))
    if values.get("SocketUseSSL", "N").upper() in ("Y", "YES", "1"):
        tls.insert(0, "SocketUseSSL")
    if tls:
        raise SettingsError(f"{origin}: {', '.join(tls)}: the quickfix package is built "
                            "without TLS, so the session would go in the clear, password "
                            "and all; carry it over a TLS tunnel (stunnel) instead")
    kind = values.get("ConnectionType")
    if kind not in ("initiator", "acceptor"):
        raise SettingsError(f"{origin}: ConnectionType must be initiator or acceptor")
    if values.get("BeginString", BEGIN_STRING) != BEGIN_STRING:
        raise SettingsError(f"{origin}: BeginString {values['BeginString']} is not "
                            f"{BEGIN_STRING} (the only version spoken here)")
    values["BeginString"] = BEGIN_STRING
    needed = ["SenderCompID", "TargetCompID"] + (
        ["SocketConnectHost", "SocketConnectPort"] if kind == "initiator" else ["SocketAcceptPort"])
    missing = [k for k in needed if not values.get(k)]
    if missing:
        raise SettingsError(f"{origin}: no {', '.join(missing)}")
    for key in ("SocketConnectPort", "SocketAcceptPort", "HeartBtInt", "ReconnectInterval",
                "LogonTimeout"):
        if key in values and not values[key].isdigit():
            raise SettingsError(f"{origin}: {key}={values[key]} is not a whole number")
    for key in ("SocketConnectPort", "SocketAcceptPort"):
        if key in values and not 1 <= int(values[key]) <= 65535:
            raise SettingsError(f"{origin}: {key}={values[key]} is not a TCP port (1-65535)")
    if int(values["HeartBtInt"]) < 1:
        raise SettingsError(f"{origin}: HeartBtInt={values['HeartBtInt']}: a heartbeat every "
                            "0 s would never let a lost session be noticed; give seconds >= 1")
    for key in ("StartTime", "EndTime"):
        if not TIME_OF_DAY.fullmatch(values[key]):
            raise SettingsError(f"{origin}: {key}={values[key]} is not a time of day HH:MM:SS")
    values.setdefault("DataDictionary", spec_path())
    if "FileStorePath" not in values:
        root = store_root or os.path.join(os.path.expanduser("~"), ".local", "state",
                                          "tickpipe", "fix")
        values["FileStorePath"] = os.path.join(root, f"{values['SenderCompID']}-"
                                                     f"{values['TargetCompID']}")
    for key in ("FileLogPath", "FileLogBackupPath"):
        values.pop(key, None)  # no message log: the Logon carries the password
    return values


def private_directory(path: str) -> None:
    """The store's directory, the owner's alone (0700): QuickFIX's file store keeps every
    message it sent, the Logon and its password among them, in files others could read."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        if os.stat(path).st_uid == os.getuid():
            os.chmod(path, 0o700)
    except OSError as exc:
        raise SettingsError(f"FIX store {path}: {exc.strerror}") from None


def load(values: dict) -> SessionSettings:
    """QuickFIX's SessionSettings of completed values (written to a file QuickFIX reads)."""
    private_directory(values["FileStorePath"])
    fd, path = tempfile.mkstemp(prefix="tickpipe-fix-", suffix=".cfg")
    with os.fdopen(fd, "w") as f:
        f.write(render(values))
    try:
        settings = fix.SessionSettings(path)
    except fix.ConfigError as exc:
        raise SettingsError(f"QuickFIX refused the settings: {exc}") from None
    finally:
        os.unlink(path)
    session_id = fix.SessionID(BEGIN_STRING, values["SenderCompID"], values["TargetCompID"])
    return SessionSettings(settings, session_id, values, path)


def read_settings_file(path: str, kind: str = "initiator") -> SessionSettings:
    """A user's settings file ([venue] fix_settings), completed and loaded."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as exc:
        raise SettingsError(f"FIX settings {path}: {exc.strerror}") from None
    default, sessions = parse(text, path)
    if len(sessions) != 1:
        raise SettingsError(f"FIX settings {path}: {len(sessions)} [SESSION] sections; one "
                            "venue session is expected")
    values = {**default, **sessions[0]}
    values.setdefault("ConnectionType", kind)
    if values["ConnectionType"] != kind:
        raise SettingsError(f"FIX settings {path}: ConnectionType={values['ConnectionType']}, "
                            f"expected {kind}")
    return load(complete(values, path))


def make_settings(kind: str, port: int, sender: str, target: str, store: str,
                  host: str = "127.0.0.1", **extra) -> SessionSettings:
    """host: the initiator's venue address (an acceptor listens on every interface)."""
    values = {"ConnectionType": kind, "SenderCompID": sender, "TargetCompID": target,
              "FileStorePath": store}
    if kind == "initiator":
        values.update(SocketConnectHost=host, SocketConnectPort=str(port))
    else:  # QuickFIX 1.16's acceptor binds every interface: it has no address setting
        values.update(SocketAcceptPort=str(port))
    values.update({k: str(v) for k, v in extra.items()})
    return load(complete(values, f"{kind} settings"))
