"""Writes docs/configuration.md from the settings models, so the reference
never drifts from the code: `python -m branchlive.configdoc`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

OUT = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def rows(model: type[BaseModel], env: str, toml: str) -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        ann: Any = field.annotation
        nested = next((a for a in (ann, *getattr(ann, "__args__", ())) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if nested is not None and not name.endswith("s"):
            out += rows(nested, f"{env}{name.upper()}__", f"{toml}{name}.")
            continue
        default = field.get_default(call_default_factory=True) if field.default is not PydanticUndefined or field.default_factory else ""
        if isinstance(default, list) and default and isinstance(default[0], BaseModel):
            default = f"({len(default)} entries)"
        text = ": ".join(x for x in (field.title, field.description) if x)
        out.append(f"| `{toml}{name}` | `{env}{name.upper()}` | `{default!s}` | {text} |")
    return out


def render() -> str:
    from devices.config import EdgeSettings
    from hub.config import Settings

    parts = ["# Configuration", "",
             "Generated from the settings models by `python -m branchlive.configdoc`. Every setting can be given",
             "in a TOML file (`--config FILE`, keys as in the first column, sections for dotted names) or as an",
             "environment variable; a wrong value stops the program with one line naming the setting.", "",
             "## Hub (`branchlive hub`)", "", "| TOML key | environment | default | meaning |", "|---|---|---|---|",
             *rows(Settings, "BRANCHLIVE_", ""), "",
             "## Edge agent (`branchlive edge`)", "", "| TOML key | environment | default | meaning |", "|---|---|---|---|",
             *rows(EdgeSettings, "BRANCHLIVE_EDGE_", ""), ""]
    return "\n".join(parts)


def main() -> None:
    OUT.write_text(render())
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
