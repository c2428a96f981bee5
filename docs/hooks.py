"""MkDocs hook: writes docs/keras-compatibility.md from the code before each build, so the page
cannot go stale: every Keras name of docs/keras_names.json (made by real Keras,
docs/make_keras_names.py) against what fastmlp has, found by importing it. Also copies the
repository's CHANGELOG.md in as docs/changelog.md (both generated files are not committed)."""
import inspect
import json
from pathlib import Path

DOCS = Path(__file__).parent


def _fastmlp_module(name):
    import fastmlp
    obj = fastmlp
    for part in name.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def compatibility_page() -> str:
    import fastmlp
    from fastmlp.trainer import REFUSED_ARGUMENTS
    data = json.loads((DOCS / "keras_names.json").read_text())
    lines = ["# Keras compatibility", "",
             f"Every public name of the Keras {data['keras_version']} modules a tutorial uses, and "
             f"whether `import fastmlp as keras` has it (fastmlp {fastmlp.__version__}). This page is "
             "written from the code at each documentation build (docs/hooks.py): it cannot go stale. "
             "What fastmlp has follows Keras's arguments, defaults and formulas; what it lacks fails "
             "with a message saying so.", ""]
    total = have = 0
    sections = []
    for module, names in data["modules"].items():
        ours = _fastmlp_module(module)
        rows = []
        for name in names:
            present = ours is not None and hasattr(ours, name)
            total += 1
            have += present
            rows.append(f"| `keras.{module}.{name}` | {'yes' if present else '—'} |")
        count = sum(r.endswith("yes |") for r in rows)
        sections += [f"## keras.{module} ({count} of {len(names)})", "", "| Keras name | fastmlp |",
                     "|---|---|", *rows, ""]
    lines += [f"In all: {have} of {total} names.", "", *sections]
    lines += ["## Model methods and their arguments", "",
              "| Method | Keras's arguments fastmlp takes | accepted at the default only | missing |",
              "|---|---|---|---|"]
    for method, params in data["methods"].items():
        fn = getattr(fastmlp.Sequential, method, None)
        if fn is None:
            lines.append(f"| `{method}` | — (no such method) | | |")
            continue
        ours = set(inspect.signature(fn).parameters)
        refused = set(REFUSED_ARGUMENTS.get(method, ()))
        taken = [p for p in params if p in ours and p not in refused]
        default_only = [p for p in params if p in refused]
        missing = [p for p in params if p not in ours]
        lines.append(f"| `{method}` | {', '.join(taken) or '—'} | {', '.join(default_only)} | "
                     f"{', '.join(missing)} |")
    return "\n".join(lines) + "\n"


def on_pre_build(config):
    (DOCS / "keras-compatibility.md").write_text(compatibility_page())
    # the changelog lives at the repository root, for pip and GitHub; the site shows that file
    (DOCS / "changelog.md").write_text((DOCS.parent / "CHANGELOG.md").read_text())
