"""Functions as stages: ``run_stage``, ``arun_stage`` and the ``@pipeline.step`` decorator.

A function run as a stage is skipped when the stage can be restored (its restored data is
returned instead); otherwise it is called and a DataFrame or pyarrow Table it returns is
checkpointed when the pipeline's ``save_after_each_stage`` is on.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from checkpointing.pipeline._fingerprint import FingerprintSpec
from checkpointing.storage._names import validate_name

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import pandas as pd

    from checkpointing.pipeline._pipeline import Pipeline
    from checkpointing.pipeline._stage import Stage

__all__: list[str] = []

P = ParamSpec("P")
R = TypeVar("R")


def run_stage(
    pipeline: Pipeline, name: str, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs
) -> R:
    """Run ``fn(*args, **kwargs)`` as stage ``name`` of ``pipeline`` (``Pipeline.run_stage``)."""
    return _run(pipeline, name, fn, args, kwargs, spec=None)


def _run(
    pipeline: Pipeline,
    name: str,
    fn: Callable[..., R],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    spec: FingerprintSpec | None,
) -> R:
    with _stage(pipeline, name, fn, args, kwargs, spec=spec) as s:
        if s.restored:
            return cast("R", s.data)
        result = fn(*args, **kwargs)
        _keep_result(pipeline, s, result)
        return result


async def arun_stage(
    pipeline: Pipeline,
    name: str,
    fn: Callable[P, Awaitable[R]],
    *args: P.args,
    **kwargs: P.kwargs,
) -> R:
    """:func:`run_stage` for a coroutine function (awaited inside ``async with``)."""
    return await _arun(pipeline, name, fn, args, kwargs, spec=None)


async def _arun(
    pipeline: Pipeline,
    name: str,
    fn: Callable[..., Awaitable[R]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    spec: FingerprintSpec | None,
) -> R:
    async with _stage(pipeline, name, fn, args, kwargs, spec=spec) as s:
        if s.restored:
            return cast("R", s.data)
        result = await fn(*args, **kwargs)
        _keep_result(pipeline, s, result)
        return result


def _stage(
    pipeline: Pipeline,
    name: str,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    spec: FingerprintSpec | None,
) -> Stage:
    """The stage of one call; a fingerprinted step's inputs are its bound call arguments."""
    if spec is None:
        return pipeline.stage(name)
    bound = inspect.signature(fn).bind(*args, **kwargs)
    bound.apply_defaults()
    s = pipeline.stage(
        name,
        inputs=dict(bound.arguments),
        version=spec.version,
        cache=spec.cache,
        cache_key=spec.cache_key,
    )
    if s._spec is not None:
        s._spec = dataclasses.replace(s._spec, code=fn)
    return s


def step_decorator(
    pipeline: Pipeline,
    name: str | Callable[..., Any] | None,
    *,
    cache: bool = False,
    version: str | None = None,
    cache_key: str | Callable[[Any], Any] | None = None,
) -> Callable[..., Any]:
    """``@pipeline.step`` / ``@pipeline.step("name")``: the decorated function or a decorator."""
    spec = FingerprintSpec(version=version, cache=cache, cache_key=cache_key)
    fingerprinted = spec if spec.active else None

    def decorate(fn: Callable[..., Any], stage_name: str) -> Callable[..., Any]:
        validate_name(stage_name, what="stage")
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await _arun(pipeline, stage_name, fn, args, kwargs, spec=fingerprinted)

            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return _run(pipeline, stage_name, fn, args, kwargs, spec=fingerprinted)

        return wrapper

    if callable(name):
        return decorate(name, name.__name__)
    return lambda fn: decorate(fn, name or fn.__name__)


def _keep_result(pipeline: Pipeline, s: Stage, result: object) -> None:
    import pandas as pd
    import pyarrow as pa

    if pipeline.save_after_each_stage and isinstance(result, pd.DataFrame | pa.Table):
        s.checkpoint(cast("pd.DataFrame", result))
