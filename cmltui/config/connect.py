"""``[connect]``: the command the connect key and ``cmltui connect`` run, and its placeholders."""

from __future__ import annotations

import string

from pydantic import field_validator

from cmltui.config.base import Section as _Section

#: The names a ``[connect] command`` argument may use, each filled per worker
#: (``cmltui.services.connect``).
CONNECT_PLACEHOLDERS = (
    "instance_id",
    "region",
    "host",
    "public_ip",
    "private_ip",
    "username",
    "key_file",
    "name",
    "endpoint",
)


def connect_argument_fields(argument: str) -> list[str]:
    """The placeholders of one ``[connect] command`` argument, in order; ``ValueError`` (worded
    to follow "must") for anything but plain ``{name}`` of ``CONNECT_PLACEHOLDERS``."""
    fields = []
    try:
        parsed = list(string.Formatter().parse(argument))
    except ValueError:  # a lone "{" or "}"
        raise ValueError(
            f"use {{name}} placeholders and {{{{ }}}} for braces (in {argument!r})"
        ) from None
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in CONNECT_PLACEHOLDERS:
            known = ", ".join("{" + name + "}" for name in CONNECT_PLACEHOLDERS)
            raise ValueError(f"use only the placeholders {known}; {{{field}}} is not one")
        if spec or conversion:
            raise ValueError(f"use plain {{{field}}}, without '!' or ':' (in {argument!r})")
        fields.append(field)
    return fields


class ConnectConfig(_Section):
    """``[connect]``: the command the connect key (``C``) and ``cmltui connect`` run."""

    #: An argument list (never a shell string); each argument's placeholders are filled with
    #: the worker's values and passed as that one argument.
    command: list[str] = ["ssh", "{username}@{host}"]
    #: ``{host}`` is the public IP; true: the private one (from a host inside the VPC).
    prefer_private_ip: bool = False
    #: ``{key_file}``: a private key file (``~`` allowed); unset: a command using it is refused.
    key_file: str | None = None

    @field_validator("command")
    @classmethod
    def _command_runs_a_program(cls, value: list[str]) -> list[str]:
        if not value or not value[0].strip():
            raise ValueError('name a program first, like ["ssh", "{username}@{host}"]')
        if connect_argument_fields(value[0]):
            raise ValueError(f"name the program itself first, without placeholders ({value[0]!r})")
        for argument in value[1:]:
            connect_argument_fields(argument)
        return value
