"""The text docs-lm learns from and is tested on: docstrings of the Python standard library.

Every machine with Python has this text and no network is needed. It is read at run time with
``inspect.getdoc`` over a fixed list of modules, their public functions and classes and those classes'
public methods, deduplicated, in sorted order, so the same Python gives the same text byte for byte.

Modules are split by name: the model trains on ``TRAIN_MODULES`` only, and the committed evaluation data
(``data/*.jsonl``, written once by ``data/make_data.py``) comes from ``HELDOUT_MODULES``, so the gate
scores text the model never saw.
"""

from __future__ import annotations

import importlib
import inspect
import warnings

TRAIN_MODULES = (
    "abc", "argparse", "ast", "asyncio", "base64", "bisect", "builtins", "bz2", "calendar", "codecs",
    "collections", "concurrent.futures", "configparser", "contextlib", "copy", "csv", "dataclasses",
    "datetime", "decimal", "difflib", "email.message", "enum", "fnmatch", "fractions", "ftplib", "functools",
    "getopt", "gettext", "glob", "gzip", "hashlib", "heapq", "html", "html.parser", "http.client",
    "http.server", "imaplib", "importlib", "inspect", "io", "itertools", "json", "locale", "logging",
    "logging.handlers", "lzma", "mailbox", "multiprocessing", "numbers", "operator", "optparse", "os",
    "os.path", "pathlib", "pickle", "pkgutil", "poplib", "pprint", "pstats", "queue", "random", "re",
    "shutil", "smtplib", "sqlite3", "ssl", "statistics", "string", "struct", "subprocess", "sys", "tarfile",
    "tempfile", "textwrap", "threading", "tokenize", "turtle", "typing", "unicodedata", "unittest",
    "unittest.mock", "urllib.parse", "urllib.request", "uuid", "wave", "xml.dom.minidom",
    "xml.etree.ElementTree", "zipfile", "zlib",
)
HELDOUT_MODULES = (
    "array", "binascii", "cmd", "dis", "doctest", "filecmp", "graphlib", "hmac", "ipaddress", "linecache",
    "math", "mimetypes", "platform", "plistlib", "reprlib", "sched", "secrets", "selectors", "shlex", "signal",
    "socket", "sysconfig", "timeit", "traceback", "types", "warnings", "weakref", "zoneinfo",
)
MIN_CHARS = 40  # shorter docstrings are mostly "Return self+value." noise


def _documented(module) -> list[object]:
    """The module, its public functions and classes, and those classes' own public methods, sorted by name."""
    found: list[object] = [module]
    for name in sorted(dir(module)):
        if name.startswith("_"):
            continue
        obj = getattr(module, name, None)
        if inspect.isclass(obj):
            found.append(obj)
            found.extend(member for attr, member in sorted(vars(obj).items())
                         if not attr.startswith("_") and callable(member))
        elif inspect.isfunction(obj) or inspect.isbuiltin(obj):
            found.append(obj)
    return found


def docstrings(modules: tuple[str, ...]) -> list[str]:
    """Docstrings of ``modules`` (those this Python has), deduplicated, in a fixed order."""
    seen: set[str] = set()
    texts = []
    for name in modules:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # deprecated modules warn on import
                module = importlib.import_module(name)
        except ImportError:  # a Python built without this module: the others still make a corpus
            continue
        for obj in _documented(module):
            doc = inspect.getdoc(obj)
            if doc and len(doc) >= MIN_CHARS and doc not in seen:
                seen.add(doc)
                texts.append(doc)
    return texts
