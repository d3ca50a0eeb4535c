"""The text docs-lm learns from and is tested on: the standard library's documentation, pydoc-style.

Every machine with Python has this text and no network is needed. It is read at run time with
``inspect`` over a fixed list of modules: each module, public function, class and public method becomes
one entry, a header line (``json.dumps(obj, *, skipkeys=False, ...)``) followed by its docstring. Entries
are deduplicated by docstring and come in sorted order, and are read in a fresh interpreter with memory
addresses blanked out, so one Python installation gives the same text byte for byte, whatever the
process that asks for it has imported.

Modules are split by name: the model trains on ``TRAIN_MODULES`` only, and the committed evaluation data
(``data/*.jsonl``, written once by ``data/make_data.py``) comes from ``HELDOUT_MODULES``, so the gate
scores documentation the model never saw.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator

TRAIN_MODULES = (
    "abc", "argparse", "ast", "asyncio", "atexit", "base64", "bdb", "bisect", "builtins", "bz2", "calendar",
    "code", "codecs", "codeop", "collections", "colorsys", "compileall", "concurrent.futures", "configparser",
    "contextlib", "contextvars", "copy", "copyreg", "cProfile", "csv", "ctypes", "dataclasses", "datetime",
    "dbm", "decimal", "difflib", "email.headerregistry", "email.message", "email.parser", "email.utils", "enum",
    "faulthandler", "fnmatch", "fractions", "ftplib", "functools", "gc", "getopt", "getpass", "gettext", "glob",
    "gzip", "hashlib", "heapq", "html", "html.parser", "http.client", "http.cookiejar", "http.cookies",
    "http.server", "imaplib", "importlib", "importlib.metadata", "importlib.resources", "inspect", "io",
    "itertools", "json", "keyword", "locale", "logging", "logging.handlers", "lzma", "mailbox", "mmap",
    "modulefinder", "multiprocessing", "netrc", "numbers", "operator", "optparse", "os", "os.path", "pathlib",
    "pdb", "pickle", "pkgutil", "poplib", "pprint", "profile", "pstats", "py_compile", "pyclbr", "pydoc",
    "queue", "quopri", "random", "re", "runpy", "select", "shelve", "shutil", "smtplib", "socketserver",
    "sqlite3", "ssl", "stat", "statistics", "string", "struct", "subprocess", "symtable", "sys", "tarfile",
    "tempfile", "textwrap", "threading", "tokenize", "trace", "tracemalloc", "typing", "unicodedata",
    "unittest", "unittest.mock", "urllib.parse", "urllib.request", "urllib.robotparser", "uuid", "venv",
    "wave", "webbrowser", "wsgiref.simple_server", "wsgiref.util", "xml.dom.minidom", "xml.etree.ElementTree",
    "xml.sax", "xml.sax.saxutils", "xmlrpc.client", "xmlrpc.server", "zipapp", "zipfile", "zipimport", "zlib",
)
HELDOUT_MODULES = (
    "array", "binascii", "cmd", "dis", "doctest", "filecmp", "graphlib", "hmac", "ipaddress", "linecache",
    "math", "mimetypes", "platform", "plistlib", "reprlib", "sched", "secrets", "selectors", "shlex", "signal",
    "socket", "sysconfig", "timeit", "traceback", "types", "warnings", "weakref", "zoneinfo",
)
MIN_CHARS = 40  # shorter docstrings are mostly "Return self+value." noise
MAX_DOC_CHARS = 1500  # the rest of the longest docstrings is mostly code listings and tables
ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _signature(obj: object) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):  # many builtins have no introspectable signature
        return "(...)"


def _documented(name: str, module) -> Iterator[tuple[str, object]]:
    """(header line, object) for the module, its public functions and classes and their public methods."""
    yield f"module {name}", module
    for attr in sorted(dir(module)):
        obj = getattr(module, attr, None)
        if attr.startswith("_"):
            continue
        if inspect.isclass(obj):
            yield f"class {name}.{attr}{_signature(obj)}", obj
            for method, member in sorted(vars(obj).items()):
                if not method.startswith("_") and callable(member):
                    yield f"{name}.{attr}.{method}{_signature(member)}", member
        elif inspect.isfunction(obj) or inspect.isbuiltin(obj):
            yield f"{name}.{attr}{_signature(obj)}", obj


def scan(modules: list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
    """(header, docstring) of ``modules`` (those this Python has), one per distinct docstring, in order.

    Reads this interpreter as it is now: a running program may have swapped functions (pytest replaces
    ``sys.unraisablehook`` during a test, torch patches ``inspect.getfile``) and grown default values
    (``logging.shutdown``'s handler list), so ``entries`` calls it in a fresh interpreter.
    """
    seen: set[str] = set()
    found = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated modules and aliases warn on import and on access
        for name in modules:
            try:
                module = importlib.import_module(name)
            except ImportError:  # a Python built without this module: the others still make a corpus
                continue
            for header, obj in _documented(name, module):
                doc = inspect.getdoc(obj)
                if doc and len(doc) >= MIN_CHARS and doc not in seen:
                    seen.add(doc)
                    found.append((ADDRESS.sub("", header), ADDRESS.sub("", doc)))
    return found


def entries(modules: tuple[str, ...]) -> list[tuple[str, str]]:
    """``scan(modules)`` in a fresh interpreter without site-packages and with a fixed hash seed, so the
    text depends on the Python installation only, never on what the calling process imported or patched."""
    env = {"PYTHONHASHSEED": "0", "PATH": os.environ.get("PATH", "")}
    done = subprocess.run([sys.executable, "-S", "-s", __file__, *modules], env=env, capture_output=True,
                          text=True, encoding="utf-8", check=True)
    return [tuple(entry) for entry in json.loads(done.stdout)]


def as_text(header: str, doc: str) -> str:
    """One entry as the model reads it: the header line, then the docstring (at most ``MAX_DOC_CHARS``)."""
    return f"{header}\n{doc[:MAX_DOC_CHARS]}"


if __name__ == "__main__":  # how ``entries`` runs ``scan``: python -S corpus.py MODULE...
    json.dump(scan(sys.argv[1:]), sys.stdout)
