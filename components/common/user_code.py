"""The user's own code, TFX module-file style: a function named in a module file (local or
gs://) or by an import path. A module file is first copied into the run's artifacts (as TFX
copies module_file), so the run keeps the exact code it ran, and is imported from the copy.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import os
import sys
import types
from collections.abc import Callable

from components.common.io import gfile
from contracts.artifacts import MODULE_DIR
from contracts.config import UserCode


class UserCodeError(ValueError):
    """User code that cannot be loaded; names the config field and the file or import path."""


def copy_module_file(code: UserCode, artifact_dir: str) -> str:
    """Copies user_code.module_file into <artifact_dir>/module/; returns the copy's path."""
    if not gfile(code.module_file).exists(code.module_file):
        raise UserCodeError(f"user_code.module_file: not found: {code.module_file}")
    target_dir = os.path.join(artifact_dir, MODULE_DIR)
    gfile(target_dir).makedirs(target_dir)
    target = os.path.join(target_dir, os.path.basename(code.module_file))
    gfile(code.module_file, target).copy(code.module_file, target, overwrite=True)
    return target


def module_copy(artifact_dir: str) -> str | None:
    """The module file an earlier step copied into artifact_dir, if any."""
    pattern = os.path.join(artifact_dir, MODULE_DIR, "*.py")
    files = gfile(pattern).glob(pattern)
    return files[0] if files else None


def _import_file(path: str):
    if not gfile(path).exists(path):
        raise UserCodeError(f"user_code.module_file: not found: {path}")
    with gfile(path).GFile(path, "rb") as f:
        source = f.read()
    name = f"user_module_{hashlib.sha256(source).hexdigest()[:12]}"
    if name in sys.modules:
        return sys.modules[name]
    # Executed from the bytes read: the same for a local path and gs://.
    module = types.ModuleType(name)
    module.__file__ = path
    sys.modules[name] = module
    try:
        exec(compile(source, path, "exec"), module.__dict__)  # noqa: S102 (running the user's module is the point)
    except Exception as err:
        del sys.modules[name]
        raise UserCodeError(f"user_code.module_file {path}: cannot import it: {type(err).__name__}: {err}") from err
    return module


def load_function(code: UserCode, field: str, module_path: str | None = None) -> Callable:
    """The function user_code.<field> names: in module_path (the run's copy of module_file)
    when the config has a module file, else by its import path."""
    name = getattr(code, field)
    if code.module_file:
        module = _import_file(module_path or code.module_file)
        where, attr = module_path or code.module_file, name
    else:
        module_name, _, attr = name.rpartition(".")
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise UserCodeError(f"user_code.{field}: cannot import '{module_name}': {err}") from err
        where = module_name
    fn = getattr(module, attr, None)
    if not callable(fn):
        defined = sorted(n for n, v in vars(module).items() if inspect.isfunction(v) and not n.startswith("_"))
        raise UserCodeError(f"user_code.{field}: {where} has no function '{attr}' (it defines {defined})")
    return fn
