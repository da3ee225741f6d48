"""The pinned providers' schemas, rebuilt from the jsii assemblies that the prebuilt cdktf
providers (PyPI) ship, in the JSON form of `tofu providers schema -json`.

Why: the Go module proxy reachable here serves no provider version past v1.x (their go.mod
has no /vN suffix, so v6 tags cannot be served, and pseudo-versions are refused), so the real
provider binaries cannot be built on this machine. The cdktf assemblies are generated from
those binaries' schemas and keep, per block: each argument's Terraform name (the anchor of
its docs link), its type, whether it is required, which arguments are nested blocks (and
which are single), and the computed attributes (getters that no argument backs).
Lost in translation: list vs set (both become list), min/max items beyond "single",
optional+computed vs optional (every optional argument is taken as optional+computed, so
mocks fill it), nested attributes vs blocks in framework providers (PROVIDERS below).

    python provider_schema.py OUT_DIR   # writes OUT_DIR/<provider>.json for each provider
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Provider:
    package: str  # the prebuilt cdktf package (pinned in uv.lock)
    structs_are_blocks: bool  # SDKv2 providers: nested structs are blocks; framework: attributes


PROVIDERS = {
    "google": Provider("cdktf_cdktf_provider_google", structs_are_blocks=True),
    "kubernetes": Provider("cdktf_cdktf_provider_kubernetes", structs_are_blocks=True),
    # helm 3.x is a plugin-framework provider: `kubernetes = {...}`, `set = [...]` are attributes.
    "helm": Provider("cdktf_cdktf_provider_helm", structs_are_blocks=False),
}
_REPRESENTS = re.compile(r"\{@link https://registry\.terraform\.io/providers/[^ ]+? (\w+)\}")
_KIND = re.compile(r"/docs/(resources|data-sources)/")
_ANCHOR = re.compile(r"#(\w+) \w+#\w+\}")
_PRIMITIVE = {"string": "string", "number": "number", "boolean": "bool", "any": "dynamic", "json": "dynamic"}
# cdktf's computed collection getters
_CDKTF_COLLECTIONS = {
    "cdktf.StringMap": ["map", "string"],
    "cdktf.NumberMap": ["map", "number"],
    "cdktf.BooleanMap": ["map", "bool"],
    "cdktf.AnyMap": ["map", "dynamic"],
    "cdktf.StringMapList": ["list", ["map", "string"]],
    "cdktf.NumberMapList": ["list", ["map", "number"]],
    "cdktf.BooleanMapList": ["list", ["map", "bool"]],
    "cdktf.AnyMapList": ["list", ["map", "dynamic"]],
}
_NOT_ATTRIBUTES = {"internalValue", "tfResourceType", "fqn", "friendlyUniqueId", "terraformResourceType"}


def assembly(package: str) -> tuple[dict, dict]:
    """(.jsii assembly, package.json), read from the wheel's tarball; importing the package
    would start a Node.js runtime for nothing."""
    jsii_dir = Path(importlib.util.find_spec(package).submodule_search_locations[0]) / "_jsii"
    tgz = next(jsii_dir.glob("*.jsii.tgz"))
    with tarfile.open(tgz, mode="r:gz") as tar:
        return json.load(tar.extractfile("package/.jsii")), json.load(tar.extractfile("package/package.json"))


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _tf_name(prop: dict) -> str:
    match = _ANCHOR.search(json.dumps(prop.get("docs", {})))  # the link sits in any docs field
    # A few docs lose the link to comment markup in their text; the cdktf name is camelCase.
    return match.group(1) if match else _snake(prop["name"])


class _Converter:
    def __init__(self, types: dict, provider: Provider):
        self.types = types
        self.provider = provider

    def _struct(self, type_: dict) -> tuple[str, bool] | None:
        """(struct fqn, single) when the type is a struct or a list of structs."""
        fqn = type_.get("fqn", "")
        if fqn in self.types and self.types[fqn].get("datatype"):
            return fqn, True
        for member in type_.get("union", {}).get("types", []):
            element = member.get("collection", {}).get("elementtype", {}).get("fqn", "")
            if element in self.types and self.types[element].get("datatype"):
                return element, False
        return None

    def cty(self, type_: dict, seen: tuple[str, ...] = ()):
        if "primitive" in type_:
            return _PRIMITIVE[type_["primitive"]]
        if "collection" in type_:
            kind = "map" if type_["collection"]["kind"] == "map" else "list"
            return [kind, self.cty(type_["collection"]["elementtype"], seen)]
        if "union" in type_:
            members = [m for m in type_["union"]["types"] if m.get("fqn") != "cdktf.IResolvable"]
            return self.cty(members[0], seen) if members else "dynamic"
        fqn = type_.get("fqn", "")
        if fqn in _CDKTF_COLLECTIONS:
            return _CDKTF_COLLECTIONS[fqn]
        if fqn == "cdktf.IResolvable":  # alone, it is what cdktf's computed boolean getters return
            return "bool"
        if fqn in self.types and self.types[fqn].get("datatype") and fqn not in seen:
            props = self.types[fqn].get("properties", [])
            attrs = {_tf_name(p): self.cty(p["type"], (*seen, fqn)) for p in props}
            optional = sorted(_tf_name(p) for p in props if p.get("optional"))
            return ["object", attrs, optional] if optional else ["object", attrs]
        if fqn.endswith(("OutputReference", "List", "Map")) and fqn not in seen:
            return self._computed_object(fqn, seen)
        return "dynamic"

    def _computed_object(self, fqn: str, seen: tuple[str, ...]):
        """The type of a computed getter that returns an output reference (a list of objects)."""
        element = re.sub(r"(List|Map)$", "OutputReference", fqn)
        if element not in self.types:
            return "dynamic"
        attrs = {
            _snake(p["name"]): self.cty(p["type"], (*seen, fqn))
            for p in self.types[element].get("properties", [])
            if not p["name"].endswith("Input") and p["name"] not in _NOT_ATTRIBUTES and not p.get("static")
        }
        return ["list", ["object", attrs]]

    def block(self, struct_fqn: str, reference_fqn: str | None, seen: tuple[str, ...] = ()) -> dict:
        """A block's schema from its config struct, plus the computed attributes that only the
        output reference (the resource class, or <Struct>OutputReference) has."""
        attributes, block_types = {}, {}
        for prop in self.types[struct_fqn].get("properties", []):
            name = _tf_name(prop)
            required = not prop.get("optional", False)
            nested = self._struct(prop["type"])
            if nested and self.provider.structs_are_blocks and nested[0] not in seen:
                fqn, single = nested
                inner = self.block(fqn, f"{fqn}OutputReference", (*seen, struct_fqn))
                block_types[name] = {"nesting_mode": "list", "block": inner}
                if single:
                    block_types[name]["max_items"] = 1
                if required:
                    block_types[name]["min_items"] = 1
                continue
            flags = {"required": True} if required else {"optional": True, "computed": True}
            attributes[name] = {"type": self.cty(prop["type"], (*seen, struct_fqn)), **flags}
        for getter in self.types.get(reference_fqn or "", {}).get("properties", []):
            name = _snake(getter["name"])
            if (
                getter.get("static")
                or getter["name"].endswith("Input")
                or getter["name"] in _NOT_ATTRIBUTES
                or name in attributes
                or name in block_types
            ):
                continue
            attributes[name] = {"type": self.cty(getter["type"], (*seen, struct_fqn)), "computed": True}
        return {"attributes": attributes, "block_types": block_types}


def schema(name: str) -> dict:
    provider = PROVIDERS[name]
    jsii, package_json = assembly(provider.package)
    types = jsii["types"]
    convert = _Converter(types, provider)
    found: dict[str, dict] = {"resources": {}, "data-sources": {}}
    provider_block = {"attributes": {}, "block_types": {}}
    for fqn, type_ in types.items():
        if type_.get("kind") != "class" or f"{fqn}Config" not in types:
            continue
        summary = type_.get("docs", {}).get("summary", "")
        match = _REPRESENTS.search(summary)
        if not match:
            continue
        block = convert.block(f"{fqn}Config", fqn)
        kind = _KIND.search(summary)
        if kind:
            found[kind.group(1)][match.group(1)] = {"version": 0, "block": block}
        elif fqn.endswith("Provider"):
            block["attributes"].pop("alias", None)  # a meta-argument of every provider block
            provider_block = block
    return {
        "format_version": "1.0",
        "provider_version": package_json["cdktf"]["provider"]["version"],
        "provider": {"version": 0, "block": provider_block},
        "resource_schemas": found["resources"],
        "data_source_schemas": found["data-sources"],
    }


class Block:
    """A readable view of one block's schema: .attributes (name -> required), .blocks
    (name -> (Block, single))."""

    def __init__(self, block: dict):
        self.attributes = {n: a.get("required", False) for n, a in block["attributes"].items()}
        self.blocks = {n: (Block(b["block"]), b.get("max_items") == 1) for n, b in block["block_types"].items()}


@dataclass
class Schema:
    version: str
    resources: dict[str, Block]
    data_sources: dict[str, Block]


def load(name: str) -> Schema:
    data = schema(name)
    return Schema(
        data["provider_version"],
        {n: Block(r["block"]) for n, r in data["resource_schemas"].items()},
        {n: Block(r["block"]) for n, r in data["data_source_schemas"].items()},
    )


def main(out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in PROVIDERS:
        data = schema(name)
        (out / f"{name}.json").write_text(json.dumps(data, sort_keys=True))
        print(
            f"{name} {data['provider_version']}: {len(data['resource_schemas'])} resources, "
            f"{len(data['data_source_schemas'])} data sources"
        )


if __name__ == "__main__":
    main(sys.argv[1])
