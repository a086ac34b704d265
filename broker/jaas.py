"""Kafka's ``sasl.jaas.config`` values: ``<LoginModule class> <flag> key="value" ...;``.

Only the parts a broker needs: the login module (it must fit the mechanism) and its options —
``username`` / ``password`` (what this broker authenticates with to other brokers) and, for
PLAIN, ``user_<name>="<password>"`` (the users it accepts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PLAIN_LOGIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
SCRAM_LOGIN_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
LOGIN_MODULES = {
    "PLAIN": PLAIN_LOGIN_MODULE,
    "SCRAM-SHA-256": SCRAM_LOGIN_MODULE,
    "SCRAM-SHA-512": SCRAM_LOGIN_MODULE,
}
_FLAGS = ("required", "requisite", "sufficient", "optional")
_TOKEN = re.compile(
    r"""\s*(?:(?P<word>[A-Za-z0-9_.$-]+)\s*=\s*(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^\s;"]+))"""
    r"""|(?P<end>;))"""
)


@dataclass(frozen=True, slots=True)
class JaasEntry:
    login_module: str
    flag: str
    options: dict[str, str]

    def plain_users(self) -> dict[str, str]:
        """The ``user_<name>`` options: name -> password."""
        return {
            key[len("user_") :]: value
            for key, value in self.options.items()
            if key.startswith("user_") and len(key) > len("user_")
        }


def parse(text: str) -> JaasEntry:
    """One login module entry; raises ValueError saying what is wrong (never the secrets)."""
    head = re.match(r"\s*(?P<module>[A-Za-z_$][\w.$]*)\s+(?P<flag>[A-Za-z]+)", text)
    if head is None:
        raise ValueError("expected '<LoginModule class> <flag> key=\"value\" ...;'")
    flag = head["flag"].lower()
    if flag not in _FLAGS:
        raise ValueError(f"login module flag {head['flag']!r} is not one of {', '.join(_FLAGS)}")
    options: dict[str, str] = {}
    position = head.end()
    ended = False
    while position < len(text):
        if text[position:].strip() == "":
            break
        if ended:
            raise ValueError("only one login module entry is allowed (text after ';')")
        match = _TOKEN.match(text, position)
        if match is None:
            raise ValueError(f"cannot parse the options at character {position}")
        position = match.end()
        if match["end"]:
            ended = True
            continue
        quoted = match["quoted"]
        value = match["bare"] if quoted is None else re.sub(r"\\(.)", r"\1", quoted)
        options[match["word"]] = value
    if not ended:
        raise ValueError("the entry must end with ';'")
    return JaasEntry(head["module"], flag, options)
