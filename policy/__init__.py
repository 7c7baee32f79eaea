"""Dated policy parameters (openfisca-style YAML under ``policy/parameters``) and their loader."""

from policy.loader import (
    DEFAULT_CONFIRM_WITH,
    DEFAULT_DIRECTORY,
    Assumption,
    DatedValue,
    Parameter,
    Policy,
    PolicyError,
    PolicySnapshot,
    UnknownParameterError,
    load_policy,
    read_policy,
)

__all__ = [
    "DEFAULT_CONFIRM_WITH",
    "DEFAULT_DIRECTORY",
    "Assumption",
    "DatedValue",
    "Parameter",
    "Policy",
    "PolicyError",
    "PolicySnapshot",
    "UnknownParameterError",
    "load_policy",
    "read_policy",
]
