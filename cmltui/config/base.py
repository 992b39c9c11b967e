"""The base of every configuration section, and the error a bad configuration raises."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigError(Exception):
    """The configuration file cannot be used; the message says where and why."""


class Section(BaseModel):
    """A ``[section]`` of the config: unknown keys are refused, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
