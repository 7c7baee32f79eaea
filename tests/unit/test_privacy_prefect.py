"""SEC-01/02/03 guards that cover every task and flow, including ones added later.

Every module under ``tasks/`` and ``flows/`` is imported; every ``prefect.Task`` found must not persist
results and must not cache on input hashes; every ``prefect.Flow`` may take only allow-listed parameter
types (ids, months, paths as ``str``; ``int``; ``bool``; ``date``; enums; literals; pydantic models of
those) and no parameter named like personal data.
"""

import datetime as dt
import enum
import importlib
import inspect
import logging
import pkgutil
import types
import typing
import uuid

import pydantic
import pytest
from prefect import Flow, Task
from prefect.cache_policies import NO_CACHE

import flows
import tasks

CANARY = "123456789018"
ALLOWED_SCALARS = (str, int, bool, dt.date, uuid.UUID, type(None))
PERSONAL_NAMES = ("my_number", "mynumber", "kojin", "name", "kana", "address", "birth", "profile", "record",
                  "rows", "frame", "payload")


def _modules(package):
    yield package
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        yield importlib.import_module(info.name)


def _objects(kind):
    found = {}
    for package in (tasks, flows):
        for module in _modules(package):
            for name, obj in vars(module).items():
                if isinstance(obj, kind) and getattr(obj, "fn", None) is not None:
                    found[f"{module.__name__}.{name}"] = obj
    return found


ALL_TASKS = _objects(Task)
ALL_FLOWS = _objects(Flow)


def test_the_walk_finds_tasks_and_flows():
    assert ALL_FLOWS, "no flows found under flows/"
    assert ALL_TASKS, "no tasks found under tasks/"


@pytest.mark.parametrize("name", sorted(ALL_TASKS))
def test_every_task_neither_persists_nor_caches(name):
    task = ALL_TASKS[name]
    assert task.persist_result is False, f"{name}: persist_result must be False"
    assert task.cache_policy is NO_CACHE or type(task.cache_policy) is type(NO_CACHE), (
        f"{name}: cache_policy must be NO_CACHE")
    assert task.result_storage is None or task.persist_result is False
    assert not getattr(task, "log_prints", False), f"{name}: log_prints must be off"


def _allowed(annotation, seen=()) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _allowed(typing.get_args(annotation)[0], seen)
    if origin in (typing.Union, types.UnionType):
        return all(_allowed(a, seen) for a in typing.get_args(annotation))
    if origin is typing.Literal:
        return all(isinstance(v, (str, int, bool)) for v in typing.get_args(annotation))
    if annotation in ALLOWED_SCALARS:
        return True
    if inspect.isclass(annotation) and issubclass(annotation, enum.Enum):
        return True
    if inspect.isclass(annotation) and issubclass(annotation, pydantic.BaseModel) and annotation not in seen:
        return all(_allowed(f.annotation, (*seen, annotation)) for f in annotation.model_fields.values())
    return False


@pytest.mark.parametrize("name", sorted(ALL_FLOWS))
def test_every_flow_takes_only_allow_listed_parameters(name):
    flow = ALL_FLOWS[name]
    hints = typing.get_type_hints(flow.fn, include_extras=True)
    for param in inspect.signature(flow.fn).parameters.values():
        assert param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD), f"{name}: *args/**kwargs"
        assert param.name in hints, f"{name}({param.name}): parameters must be annotated"
        assert _allowed(hints[param.name]), f"{name}({param.name}): type {hints[param.name]!r} not allow-listed"
        lowered = param.name.lower()
        assert not any(word in lowered for word in PERSONAL_NAMES) or lowered.endswith("_id"), (
            f"{name}({param.name}): parameter named like personal data")
    assert flow.persist_result is not True, f"{name}: flow results must not be persisted"


def test_allow_list_itself():
    class Mode(enum.Enum):
        A = "a"

    class Ok(pydantic.BaseModel):
        month: str
        mode: Mode

    class Bad(pydantic.BaseModel):
        rows: list[dict]

    assert _allowed(typing.Annotated[str | None, "x"]) and _allowed(typing.Literal["a", 1]) and _allowed(Ok)
    assert not _allowed(dict) and not _allowed(list[str]) and not _allowed(Bad) and not _allowed(typing.Any)
    assert not _allowed(pydantic.SecretStr)


# -- masking wiring -----------------------------------------------------------------------------------
class _Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_install_masking_filter_covers_child_loggers_prefect_handlers_and_tracebacks():
    from privacy.masking import install_masking_filter

    root_capture, api_capture = _Capture(), _Capture()
    logging.getLogger().addHandler(root_capture)
    api_logger = logging.getLogger("prefect.task_runs")  # where Prefect's API log handler sits
    api_logger.addHandler(api_capture)
    try:
        install_masking_filter()
        late = _Capture()  # a handler added after installation is covered by the record factory
        logging.getLogger("kodomo.late").addHandler(late)
        logging.getLogger("services.intake.deep").warning("value %s", CANARY)
        api_logger.warning("hyphenated 1234-5678-9018 and full-width １２３４５６７８９０１８")
        logging.getLogger("kodomo.late").warning("late %s", CANARY)
        try:
            raise ValueError(f"bad {CANARY}")
        except ValueError:
            logging.getLogger("kodomo.x").exception("failed")
        text = "\n".join(root_capture.lines + api_capture.lines + late.lines)
        assert CANARY not in text and "1234-5678-9018" not in text and "１２３４５６７８９０１８" not in text
        assert text.count("[MYNUMBER]") >= 5 and "ValueError" in text
    finally:
        logging.getLogger().removeHandler(root_capture)
        api_logger.removeHandler(api_capture)


def test_cli_installs_the_masking_filter(monkeypatch):
    import cli.main
    import privacy.masking as masking

    calls = []
    monkeypatch.setattr(masking, "install_masking_filter", lambda *a: calls.append(a))
    with pytest.raises(SystemExit):
        cli.main.main(["--help"])
    assert calls == [()]
