"""The pure core: annotations -> plan -> JSON-Patch ops, over plain data (standard library and orjson only)."""
