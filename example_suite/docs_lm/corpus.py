"""The text docs-lm learns from and is tested on: the standard library's API summaries, pydoc-style.

Every machine with Python has this text and no network is needed. It is read at run time with
``inspect`` over a fixed list of modules: each module, public function, class and public method becomes
one entry, a header line (``json.dumps(obj, *, skipkeys=False, ...)``) followed by the first paragraph of
its docstring, the summary that ``help()`` shows first. (Whole docstrings are four times the text, which
a model of this size cannot learn in the couple of CPU minutes it trains.) Entries
are deduplicated by docstring and come in sorted order, so one Python gives the same text byte for byte
(memory addresses in default values are blanked out).

Modules are split by name: the model trains on ``TRAIN_MODULES`` only, and the committed evaluation data
(``data/*.jsonl``, written once by ``data/make_data.py``) comes from ``HELDOUT_MODULES``, so the gate
scores documentation the model never saw.
"""

from __future__ import annotations

import importlib
import inspect
import re
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
MAX_SUMMARY = 400  # characters of a first paragraph kept (a few are whole essays)
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


def entries(modules: tuple[str, ...]) -> list[tuple[str, str]]:
    """(header, docstring) of ``modules`` (those this Python has), one per distinct docstring, in order."""
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


def summary(doc: str) -> str:
    """A docstring's first paragraph (what ``help()`` users read first), at most ``MAX_SUMMARY`` characters."""
    paragraph = doc.split("\n\n", 1)[0].strip()
    return paragraph if len(paragraph) <= MAX_SUMMARY else paragraph[:MAX_SUMMARY].rsplit(" ", 1)[0]


def as_text(header: str, doc: str) -> str:
    """One entry as the model reads it: the header line, then the docstring's first paragraph."""
    return f"{header}\n{summary(doc)}"
