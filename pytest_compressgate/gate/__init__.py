"""The gate's core, apart from pytest: builder, scorer, timer and judge, wired by ``GateSession``."""

from .builder import Builder, BuiltTarget, Stage
from .judge import Judge
from .scorer import Scorer
from .session import GateOptions, GateSession
from .timing import Timer

__all__ = ["Builder", "BuiltTarget", "GateOptions", "GateSession", "Judge", "Scorer", "Stage", "Timer"]
