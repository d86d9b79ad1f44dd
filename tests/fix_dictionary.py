"""Field-by-field checks of FIX messages against QuickFIX's own FIX44.xml (the dictionary
file the installed quickfix package ships): every tag belongs to the message (its fields,
components and the header/trailer), every required tag is there, every value of an
enumerated field is one the dictionary lists. (QuickFIX's own DataDictionary.validate
aborts the process on a C++ exception the binding does not map, so it is read here.)
"""

import xml.etree.ElementTree as ET
from functools import lru_cache

SOH = "\x01"


@lru_cache(maxsize=None)
def dictionary(path: str):
    root = ET.parse(path).getroot()
    fields = {f.get("name"): (int(f.get("number")), {v.get("enum") for v in f.findall("value")})
              for f in root.find("fields")}
    components = {c.get("name"): c for c in root.find("components")}
    messages = {m.get("msgtype"): m for m in root.find("messages")}
    header, trailer = root.find("header"), root.find("trailer")
    return fields, components, messages, header, trailer


def _walk(node, fields, components, required_path=True):
    """(allowed tags, required tags) of a message/component node (groups: their count tag
    and members allowed, never required: we send none)."""
    allowed, required = set(), set()
    for child in node:
        required_here = required_path and child.get("required") == "Y"
        if child.tag == "field":
            tag = fields[child.get("name")][0]
            allowed.add(tag)
            if required_here:
                required.add(tag)
        elif child.tag == "component":
            a, r = _walk(components[child.get("name")], fields, components, required_here)
            allowed |= a
            required |= r
        elif child.tag == "group":
            allowed.add(fields[child.get("name")][0])
            a, _ = _walk(child, fields, components, False)
            allowed |= a
    return allowed, required


def check_message(raw: str, path: str) -> list[str]:
    """What is wrong with the raw FIX message (SOH-separated) by the dictionary: [] if
    nothing."""
    fields, components, messages, header, trailer = dictionary(path)
    by_tag = {number: (name, values) for name, (number, values) in fields.items()}
    pairs = [p.split("=", 1) for p in raw.strip(SOH).split(SOH)]
    tags = {int(t): v for t, v in pairs}
    msg_type = tags.get(35)
    if msg_type not in messages:
        return [f"35={msg_type}: no such message in the dictionary"]
    allowed, required = _walk(messages[msg_type], fields, components)
    for part in (header, trailer):
        a, r = _walk(part, fields, components)
        allowed |= a
        required |= r
    problems = [f"{by_tag[t][0]}({t}) missing" for t in sorted(required - set(tags))]
    for tag, value in tags.items():
        if tag not in allowed:
            problems.append(f"{by_tag.get(tag, ('tag',))[0]}({tag}) not in 35={msg_type}")
        elif by_tag[tag][1] and value not in by_tag[tag][1]:
            problems.append(f"{by_tag[tag][0]}({tag})={value!r} not one of its values")
    return problems
