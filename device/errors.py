"""The one root exception of custobot and the leaves every package shares."""

from __future__ import annotations


class CustobotError(Exception):
    """Root of every error custobot raises on purpose."""


class ConfigError(CustobotError):
    """The configuration is wrong; ``key`` names the dotted path that is."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}" if key else problem)
        self.key = key
        self.problem = problem
