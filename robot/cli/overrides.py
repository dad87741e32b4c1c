"""One override syntax for every subcommand: `--section.key=value`, listed in `--help` with its type.

    robot train --config so101_lift_flow --train.steps=2000 --policy.horizon=16
    robot demo --train.steps=500 --eval.episodes=20          # `--set train.steps=500` is an alias
    robot eval --checkpoint runs/lift --eval.inference_steps=4
    robot deploy --policy runs/lift --safety.max_velocity=[3.0] --watchdog.grace_s=0.5

Values are YAML scalars or lists (`--policy.obs_keys=[state,images.front]`).
The options only collect `key=value` strings; robot.config checks keys and
types when the config is built, and a wrong one is a ConfigError naming it
(exit 2). The keys come from the config dataclasses themselves, so a new
field is a new option without touching the CLI.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Iterable
from typing import Any, get_args, get_origin, get_type_hints

OVERRIDES_DEST = "config_overrides"
"""Where the pipeline overrides of train / demo land: a list of "section.key=value" strings."""


class _Override(argparse.Action):
    """Appends `--a.b=value` (or `--set a.b=value`) to a list of "a.b=value" strings in `dest`."""

    def __init__(self, *args: Any, strip: str = "", **kwargs: Any) -> None:
        self.strip = strip  # a section prefix to drop, for configs whose keys are not nested (deploy's safety)
        super().__init__(*args, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        items = list(getattr(namespace, self.dest, None) or [])
        if option_string == "--set":
            text = str(values)
        else:
            text = f"{(option_string or '').lstrip('-')}={values}"
        if self.strip and text.startswith(self.strip):
            text = text[len(self.strip):]
        items.append(text)
        setattr(namespace, self.dest, items)


def type_name(tp: Any) -> str:
    """A short, readable name of a config field's type for --help: int, float, list[str], one of {...}."""
    origin = get_origin(tp)
    if origin is typing.Literal:
        return "one of {" + ",".join(str(a) for a in get_args(tp)) + "}"
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(type_name(a) for a in get_args(tp))
    if origin in (tuple, list):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        inner = type_name(args[0]) if args else "any"
        return f"list[{inner}]"
    if origin is dict:
        return "mapping"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def leaf_fields(cls: type, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, type, default) of every leaf field of a config dataclass, nested sections flattened."""
    out: list[tuple[str, Any, Any]] = []
    hints = get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        tp, key = hints[f.name], f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            out.extend(leaf_fields(tp, key + "."))
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        out.append((key, tp, default))
    return out


def _help(tp: Any, default: Any) -> str:
    shown = list(default) if isinstance(default, tuple) else default
    return f"{type_name(tp)} (default {shown!r})" if shown not in (None, "", [], {}) else type_name(tp)


def add_override_arguments(parser: argparse.ArgumentParser, fields: Iterable[tuple[str, Any, Any]],
                           title: str, dest: str = OVERRIDES_DEST, strip: str = "", alias_set: bool = False,
                           hide_depth: int = 3) -> None:
    """One `--key=V` option per (dotted key, type, default) of `fields`, collected into `args.<dest>`.

    strip: a prefix removed from each collected key (`safety.` for a config built from its own keys).
    alias_set: also accept `--set key=value` (the older syntax of `robot demo`).
    hide_depth: keys with this many dots or more are accepted but left out of --help (policy internals).
    """
    # argparse's generated usage would list every key; the help below lists them with their types.
    parser.usage = parser.usage or "%(prog)s [options] [--section.key=value ...]"
    group = parser.add_argument_group(title)
    for key, tp, default in fields:
        group.add_argument(f"--{key}", action=_Override, dest=dest, metavar="V", default=argparse.SUPPRESS,
                           strip=strip, help=argparse.SUPPRESS if key.count(".") >= hide_depth else _help(tp, default))
    if alias_set:
        group.add_argument("--set", action=_Override, dest=dest, metavar="KEY=VALUE", default=argparse.SUPPRESS,
                           strip=strip, help="the same overrides as `--set section.key=value` (repeatable)")
    parser.set_defaults(**{dest: []})


def add_pipeline_overrides(parser: argparse.ArgumentParser, sections: tuple[str, ...] = (),
                           alias_set: bool = False) -> None:
    """`--section.key=V` for every leaf of PipelineConfig (or of `sections` only); imports no torch."""
    from policies.pipeline import PipelineConfig

    fields = [f for f in leaf_fields(PipelineConfig) if f[0] != "name"
              and (not sections or f[0].split(".", 1)[0] in sections)]
    add_override_arguments(parser, fields, "config overrides (--section.key=value, YAML values; "
                           "e.g. --train.steps=2000)", alias_set=alias_set)
