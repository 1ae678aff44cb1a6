"""Label-free prompt optimization for zero-shot classifiers.

`optimize`, `open_run` and `load_pack` are the notebook API. They are imported on first
use, so `import agent` stays cheap for the command line.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "load_pack", "open_run", "optimize"]


def __getattr__(name: str):
    if name in ("optimize", "open_run"):
        from agent import api

        return getattr(api, name)
    if name == "load_pack":
        from agent.packs import load_pack

        return load_pack
    raise AttributeError(f"module 'agent' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
