"""Models by name: a registry of YAML presets, a spec builder and regularization transforms.

    from convolab.models import create_model, list_models, load_spec
"""

from .registry import create_model, list_models, load_spec, read_spec

__all__ = ["create_model", "list_models", "load_spec", "read_spec"]
