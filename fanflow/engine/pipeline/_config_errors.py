"""Pydantic's report on a bad `PipelineConfig`, as one `ConfigurationError` naming fields."""

from __future__ import annotations

from pydantic import ValidationError

from fanflow._exceptions import ConfigurationError

__all__ = ["config_error"]


def config_error(exc: ValidationError, model: str) -> ConfigurationError:
    """`ConfigurationError` listing each bad field of `model` with what was given."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or model
        if error["type"] == "extra_forbidden":
            problems.append(f"{where}: no such setting")
        else:
            problems.append(f"{where}: {error['msg']} (got {error.get('input')!r})")
    return ConfigurationError(
        f"{model} got invalid settings: {'; '.join(problems)}. Fix them "
        f"(see help({model}) for what each setting takes)."
    )
