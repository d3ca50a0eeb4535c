"""Import every module in ``compressors.methods`` so their handlers (and loaders) register themselves.

Adding a method means adding a module there; neither this file nor the dispatcher changes.
"""

from __future__ import annotations

import importlib
import pkgutil

from . import methods

for _module in pkgutil.iter_modules(methods.__path__):
    importlib.import_module(f"{methods.__name__}.{_module.name}")
