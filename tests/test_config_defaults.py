"""Every default is stated once: no YAML in conf/ restates a default of the schema it composes
over (issue 19), and no primary config restates what its defaults list gives (a chat setting
equal to its generation preset's), unless the line says `# restated: <why>`.

The files checked follow from the configs themselves, with no list kept here: every primary
config whose defaults list names a `<job>_schema`, and every option of every config group its
defaults lists (and theirs) reach, each at the package Hydra puts it in (`group@package`, a
`# @package` header, else the group's path). A primary config without a schema yet is skipped
until its `<job>_schema` entry exists.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf
from omegaconf._utils import get_yaml_loader

import bioqwen.config  # noqa: F401  (registers the schemas)
from tests.conftest import CONF

MARKER = "# restated:"
HEADER = re.compile(r"#\s*@package\s+(\S+)")
ABSENT = object()  # a key the defaults list does not give


@dataclasses.dataclass(frozen=True)
class Restatement:
    """A YAML line whose value is its schema field's default (or its defaults list's)."""

    file: Path
    line: int
    key: str
    value: Any
    given_by: str = "the schema default"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.key}: {self.value!r} is {self.given_by}"


def _unwrap(hint: Any) -> Any:
    """X from `X | None`."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return inner
    return hint


def _child(hint: Any, key: str) -> Any:
    """The type of `key` inside a dataclass or a dict's values (None: no schema there)."""
    hint = _unwrap(hint)
    if dataclasses.is_dataclass(hint):
        return typing.get_type_hints(hint).get(key)
    if typing.get_origin(hint) is dict:
        return typing.get_args(hint)[1]
    return None


def _schema_at(root: type, package: str) -> Any:
    hint: Any = root
    for part in filter(None, package.split(".")):
        hint = _child(hint, part)
    return _unwrap(hint) if hint is not None else None


def _document(path: Path) -> yaml.MappingNode | None:
    node = yaml.compose(path.read_text(encoding="utf-8"), Loader=get_yaml_loader())
    return node if isinstance(node, yaml.MappingNode) else None


def _value(node: yaml.Node) -> Any:
    return yaml.load(yaml.serialize(node), Loader=get_yaml_loader())


def _defaults(document: yaml.MappingNode | None) -> list[Any]:
    for key, value in document.value if document else []:
        if key.value == "defaults":
            return list(_value(value) or [])
    return []


def _header_package(path: Path) -> str | None:
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            return None
        if match := HEADER.match(line):
            return match.group(1)
    return None


def checked_files(conf: Path = CONF) -> dict[Path, set[type]]:
    """Every YAML under `conf` that composes over a schema, with the dataclass(es) it fills."""
    store = ConfigStore.instance()
    queue: list[tuple[Path, str, str, type]] = []
    for primary in sorted(conf.glob("*.yaml")):
        for entry in _defaults(_document(primary)):
            if isinstance(entry, str) and entry.endswith("_schema"):
                node = store.load(f"{entry}.yaml").node
                queue.append((primary, "", "", OmegaConf.get_type(node)))  # type: ignore[arg-type]
    seen: set[tuple[Path, str, type]] = set()
    checked: dict[Path, set[type]] = {}
    while queue:
        path, group, package, root = queue.pop()
        if (path, package, root) in seen:
            continue
        seen.add((path, package, root))
        schema = _schema_at(root, package)
        if not dataclasses.is_dataclass(schema):
            continue
        checked.setdefault(path, set()).add(schema)  # type: ignore[arg-type]
        for entry in _defaults(_document(path)):
            if not isinstance(entry, dict):  # _self_, a schema, or a file of the same group
                continue
            ((key, _choice),) = entry.items()
            if key.startswith("override "):
                continue
            name, _, explicit = key.partition("@")
            sub = name[1:] if name.startswith("/") else f"{group}/{name}".strip("/")
            if sub.split("/")[0] == "hydra":
                continue
            for option in sorted((conf / sub).glob("*.yaml")):  # every choice, not just this one
                where = explicit and ".".join(filter(None, [package, explicit]))
                where = where or _header_package(option) or sub.replace("/", ".")
                queue.append((option, sub, "" if where == "_global_" else where, root))
    return checked


def _restated(
    path: Path, schema: Any, mapping: yaml.MappingNode, prefix: str, lines: list[str]
) -> Iterator[Restatement]:
    fields = {f.name: f for f in dataclasses.fields(schema)}
    hints = typing.get_type_hints(schema)
    for key_node, value_node in mapping.value:
        key = str(key_node.value)
        if key not in fields or (not prefix and key in ("defaults", "hydra")):
            continue
        hint, name = _unwrap(hints[key]), f"{prefix}{key}"
        if isinstance(value_node, yaml.MappingNode):
            if dataclasses.is_dataclass(hint):
                yield from _restated(path, hint, value_node, f"{name}.", lines)
                continue
            inner = _child(hint, "")
            if typing.get_origin(hint) is dict and dataclasses.is_dataclass(_unwrap(inner)):
                for sub_key, sub_value in value_node.value:
                    if isinstance(sub_value, yaml.MappingNode):
                        where = f"{name}.{sub_key.value}."
                        yield from _restated(path, _unwrap(inner), sub_value, where, lines)
                continue
        field = fields[key]
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            continue
        value = _value(value_node)
        if (
            default == "???"
            or value != default
            or isinstance(value, bool) != isinstance(default, bool)
        ):
            continue
        if MARKER not in lines[key_node.start_mark.line]:
            yield Restatement(path, key_node.start_mark.line + 1, name, value)


def restatements(conf: Path = CONF) -> list[Restatement]:
    """Every unmarked YAML value under `conf` equal to its schema field's default."""
    found: list[Restatement] = []
    for path, schemas in sorted(checked_files(conf).items()):
        document = _document(path)
        lines = path.read_text(encoding="utf-8").splitlines()
        for schema in sorted(schemas, key=lambda s: s.__name__):
            if document is not None:
                found += _restated(path.relative_to(conf), schema, document, "", lines)
    unique = {(str(r.file), r.line, r.key): r for r in found}  # a file under two schemas
    return [unique[k] for k in sorted(unique)]


def _leaves(mapping: yaml.MappingNode, prefix: str = "") -> Iterator[tuple[yaml.Node, str, Any]]:
    """(key node, dotted key, value) of every leaf a YAML body sets (defaults and hydra aside)."""
    for key_node, value_node in mapping.value:
        key = f"{prefix}{key_node.value}"
        if not prefix and key in ("defaults", "hydra"):
            continue
        if isinstance(value_node, yaml.MappingNode) and value_node.value:
            yield from _leaves(value_node, f"{key}.")
        else:
            yield key_node, key, _value(value_node)


def preset_restatements(conf: Path, work: Path) -> list[Restatement]:
    """Every unmarked value a primary config with a schema sets to what its defaults list
    gives already (e.g. a chat setting equal to the generation preset's). `work`: scratch."""
    bare_conf = work / "conf"
    shutil.copytree(conf, bare_conf)
    found: list[Restatement] = []
    for path in sorted(p for p in checked_files(conf) if p.parent == conf):
        document = _document(path)
        if document is None:
            continue
        # The same defaults list without the body: what the body's values would otherwise be.
        bare = f"{path.stem}__bare"
        (bare_conf / f"{bare}.yaml").write_text(
            yaml.safe_dump({"defaults": _defaults(document)}), encoding="utf-8"
        )
        with initialize_config_dir(config_dir=str(bare_conf), version_base="1.3"):
            given = OmegaConf.to_container(compose(bare), resolve=False)
        lines = path.read_text(encoding="utf-8").splitlines()
        for key_node, key, value in _leaves(document):
            before: Any = given
            for part in key.split("."):
                before = before.get(part, ABSENT) if isinstance(before, dict) else ABSENT
            line = key_node.start_mark.line
            if before == value != "???" and MARKER not in lines[line]:
                where = (path.relative_to(conf), line + 1, key, value)
                found.append(Restatement(*where, given_by="what its defaults list gives"))
    return found


def test_no_yaml_restates_a_schema_default() -> None:
    found = restatements()
    how = f"drop the line, or mark it {MARKER} <why>"
    listed = "\n".join(map(str, found))
    assert not found, f"{len(found)} restated schema defaults ({how}):\n{listed}"


def test_every_group_that_composes_over_a_schema_is_checked() -> None:
    groups = {str(p.parent.relative_to(CONF)) for p in checked_files()}
    expected = {
        ".", "model", "method", "stage", "stage/recipe", "benchmark", "generation", "tracking",
        "bootstrap", "data", "data/mix", "data/sources", "data/fetch",
        "embedder", "scorer", "search",
    }  # fmt: skip
    assert expected <= groups, sorted(expected - groups)
    primaries = {p.name for p in checked_files() if p.parent == CONF}
    assert {"train.yaml", "export.yaml", "chat.yaml", "score_data.yaml", "search.yaml"} <= primaries


def test_the_guard_finds_a_restated_default_and_honours_the_marker(tmp_path: Path) -> None:
    (tmp_path / "tracking").mkdir()
    (tmp_path / "prepare.yaml").write_text(
        "defaults:\n  - prepare_schema\n  - tracking: quiet\n  - _self_\n"
        "seed: 42\njob: prepare  # restated: the job's name is read from here\n"
    )
    (tmp_path / "tracking" / "quiet.yaml").write_text("mode: offline\nentity: null\ntags: []\n")
    found = [(str(r.file), r.line, r.key) for r in restatements(tmp_path)]
    assert found == [("prepare.yaml", 5, "seed"), ("tracking/quiet.yaml", 2, "entity"),
                     ("tracking/quiet.yaml", 3, "tags")]  # fmt: skip


def test_no_primary_config_restates_what_its_defaults_give(tmp_path: Path) -> None:
    found = preset_restatements(CONF, tmp_path)
    assert not found, "\n".join(map(str, found))


def test_the_preset_guard_finds_a_value_its_group_already_gives(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    (conf / "chat.yaml").write_text(
        (CONF / "chat.yaml")
        .read_text(encoding="utf-8")
        .replace("  max_new_tokens: 256", "  max_new_tokens: 256\n  do_sample: false"),
        encoding="utf-8",
    )
    found = [(str(r.file), r.key) for r in preset_restatements(conf, tmp_path / "work")]
    assert found == [("chat.yaml", "generation.do_sample")]
