"""Safety: files are loaded as safetensors / JSON / Arrow (pickles only through torch's weights-only
loader), remote code runs only when a spec asks for it and is announced first, and nothing a spec
label or a data file names can put a file outside the output folder.

Path policy checked here: the output folder and what its owner links into it (work/ on scratch
space, say) are the user's choice and trusted. What xstilts names inside it never comes from
free text: stage folders are content hashes, file names come from the task registry and from
language codes validated against the task, report figures are slugs; spec names, model names and
condition names are labels only (the spec name, which names folders and cluster jobs, is refused
unless it is letters, digits, '.', '_' or '-').
"""

from __future__ import annotations

import ast
import builtins
import functools
import logging
import re
import shutil
from pathlib import Path

import pytest
import torch

from xstilts.errors import XStiltsError
from xstilts.experiments.runner import run_spec
from xstilts.experiments.spec import ModelSpec, spec_from_dict
from xstilts.models.model import load_pretrained

from reliability_faults import armed
from reliability_helpers import SRC, assert_user_error, cli, files_under, stage_statuses, tiny_spec, write_spec

PACKAGE = SRC / "xstilts"


class Payload:
    """Unpickling this creates `marker`: proof that a pickle's code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


# -- what the code base calls ------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def package_calls() -> tuple[tuple[Path, ast.Call], ...]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        found += [(path, node) for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(node, ast.Call)]
    return tuple(found)


def calls(name: str) -> list[tuple[Path, ast.Call]]:
    """Every call of `name` (a function or attribute name) in the package's source."""
    found = []
    for path, node in package_calls():
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if called == name:
            found.append((path, node))
    return found


def keyword(call: ast.Call, name: str) -> object:
    for kw in call.keywords:
        if kw.arg == name:
            return ast.literal_eval(kw.value) if isinstance(kw.value, ast.Constant) else ast.unparse(kw.value)
    return None


def test_torch_load_only_with_weights_only():
    found = calls("load")
    torch_loads = [(p, c) for p, c in found if ast.unparse(c.func).startswith("torch.")]
    assert torch_loads, "the optimizer state is loaded with torch.load: the scan must see it"
    assert all(keyword(c, "weights_only") is True for _, c in torch_loads), [f"{p}:{c.lineno}" for p, c in torch_loads]


def test_no_pickle_loaders_in_the_package():
    source = {p: p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py")}
    banned = re.compile(r"^\s*(import|from)\s+(pickle|cPickle|dill|joblib|cloudpickle|marshal|shelve)\b", re.M)
    assert [str(p) for p, text in source.items() if banned.search(text)] == []
    assert [f"{p}:{c.lineno}" for p, c in calls("load") if ast.unparse(c.func) in ("np.load", "numpy.load") and keyword(c, "allow_pickle")] == []
    assert [f"{p}:{c.lineno}" for name in ("eval", "exec") for p, c in calls(name) if isinstance(c.func, ast.Name)] == []


def test_yaml_is_read_with_a_safe_loader():
    for path, call in calls("load") + calls("load_all") + calls("unsafe_load") + calls("full_load"):
        text = ast.unparse(call)
        if text.startswith("yaml."):
            assert "SafeLoader" in text or "_UniqueKeySafeLoader" in text, f"{path}:{call.lineno}: {text}"


def test_model_weights_load_from_safetensors_only_and_remote_code_is_never_hardwired():
    model_loads = [(p, c) for p, c in calls("from_pretrained") if "Tokenizer" not in ast.unparse(c.func) and "Config" not in ast.unparse(c.func)]
    assert model_loads
    assert all(keyword(c, "use_safetensors") is True for _, c in model_loads), [f"{p}:{c.lineno}" for p, c in model_loads]
    assert [f"{p}:{c.lineno}" for p, c in calls("from_pretrained") if keyword(c, "trust_remote_code") is True] == []


# -- pickles are refused, their code never runs ----------------------------------------------------
def test_malicious_optimizer_state_is_refused_without_running_it(tiny_models, tmp_path):
    raw = tiny_spec(tmp_path / "out", tiny_models["encoder"])
    with armed("interrupt:4"), pytest.raises(KeyboardInterrupt):
        run_spec(spec_from_dict(raw))
    (pointer,) = (tmp_path / "out" / "work").glob("*/*/LATEST")
    marker = tmp_path / "pickle-code-ran"
    torch.save({"state": Payload(marker)}, pointer.parent / "checkpoint-0000004" / "optimizer.pt")
    result = cli("-q", "run", write_spec(tmp_path / "spec.yaml", raw), "--no-report")
    assert not marker.exists(), "unpickling the planted optimizer.pt ran its code"
    assert result.code != 0
    assert set(stage_statuses(tmp_path / "out").values()) == {"failed", "pending"}


def test_malicious_optimizer_state_is_a_one_line_error(tiny_models, tmp_path):
    raw = tiny_spec(tmp_path / "out", tiny_models["encoder"])
    with armed("interrupt:4"), pytest.raises(KeyboardInterrupt):
        run_spec(spec_from_dict(raw))
    (pointer,) = (tmp_path / "out" / "work").glob("*/*/LATEST")
    torch.save({"state": Payload(tmp_path / "ran")}, pointer.parent / "checkpoint-0000004" / "optimizer.pt")
    assert_user_error(cli("-q", "run", write_spec(tmp_path / "spec.yaml", raw), "--no-report"), "optimizer.pt")


def test_pickled_model_weights_are_not_loaded(tiny_models, tmp_path):
    model = tmp_path / "pickled-model"
    shutil.copytree(tiny_models["encoder"], model)
    (model / "model.safetensors").unlink()
    marker = tmp_path / "pickle-code-ran"
    torch.save({"weights": Payload(marker)}, model / "pytorch_model.bin")
    refused_before_and_at_load(tmp_path, model)
    assert not marker.exists()


def test_outputs_and_caches_hold_only_safe_formats(tiny_grid_baseline, session_cache):
    """Stage outputs: safetensors, JSON(L) and tokenizer text; the feature cache: Arrow and JSON."""
    stage_files = files_under(tiny_grid_baseline.out / "stages")
    assert stage_files and {Path(f).suffix for f in stage_files} <= {".safetensors", ".json", ".jsonl", ".txt"}
    cache_files = files_under(session_cache / "features")
    assert cache_files and {Path(f).suffix for f in cache_files} <= {".arrow", ".json"}


# -- remote code -------------------------------------------------------------------------------------
def record_loads(monkeypatch) -> list[tuple[str, object]]:
    """Record each Auto*.from_pretrained call's trust_remote_code, and the warnings, in order."""
    import transformers

    events: list[tuple[str, object]] = []
    for cls in (transformers.AutoConfig, transformers.AutoTokenizer, transformers.AutoModel):
        real = cls.from_pretrained.__func__

        def spy(klass, *args, _real=real, _name=cls.__name__, **kwargs):
            events.append((_name, kwargs.get("trust_remote_code")))
            return _real(klass, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(spy))
    return events


class Events(logging.Handler):
    def __init__(self, events: list) -> None:
        super().__init__(logging.WARNING)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        if "trust_remote_code" in record.getMessage():
            self.events.append(("warning", record.getMessage()))


@pytest.mark.parametrize("asked", [False, True])
def test_remote_code_only_when_the_spec_asks_and_announced_first(tiny_models, monkeypatch, asked):
    path = str(tiny_models["encoder"]) + ("/." if asked else "")  # another name: the warning is once per model
    events = record_loads(monkeypatch)
    handler = Events(events)
    logging.getLogger("xstilts.models.backbone").addHandler(handler)
    try:
        load_pretrained(path, ModelSpec(name="m", path=path, trust_remote_code=asked).backbone_options())
    finally:
        logging.getLogger("xstilts.models.backbone").removeHandler(handler)
    loads = [e for e in events if e[0] != "warning"]
    assert {"AutoConfig", "AutoTokenizer", "AutoModel"} <= {name for name, _ in loads}
    assert {flag for _, flag in loads} == {asked}
    warnings = [i for i, e in enumerate(events) if e[0] == "warning"]
    assert warnings == ([0] if asked else [])  # before any repository code could run


def test_remote_code_of_a_local_model_does_not_run_unasked(tiny_models, tmp_path):
    import json

    model = tmp_path / "custom-model"
    shutil.copytree(tiny_models["encoder"], model)
    marker = tmp_path / "remote-code-ran"
    (model / "modeling_evil.py").write_text(f"open({str(marker)!r}, 'w').close()\nfrom transformers import XLMRobertaConfig as EvilConfig\n")
    config = json.loads((model / "config.json").read_text())
    config |= {"model_type": "evil", "auto_map": {"AutoConfig": "modeling_evil.EvilConfig", "AutoModel": "modeling_evil.EvilConfig"}}
    (model / "config.json").write_text(json.dumps(config))
    refused_before_and_at_load(tmp_path, model)
    assert not marker.exists()


def refused_before_and_at_load(tmp_path: Path, model: Path) -> None:
    """`xstilts run` refuses the model in its preflight, and the loader itself refuses it too
    (a caller that skips the preflight is still safe)."""
    raw = tiny_spec(tmp_path / "out", model)
    result = cli("-q", "run", write_spec(tmp_path / "spec.yaml", raw), "--no-report")
    assert_user_error(result, "preflight:")
    assert str(model) in result.out
    with pytest.raises(XStiltsError, match=re.escape(str(model))):
        load_pretrained(str(model), ModelSpec(name="m", path=str(model)).backbone_options())


# -- paths -------------------------------------------------------------------------------------------
def test_labels_that_look_like_paths_write_nothing_outside(tmp_path, monkeypatch):
    """Model and condition names are labels: a grid and its report with names full of '../' and
    '/' create files only under the output and report folders."""
    from reliability_helpers import HERE

    monkeypatch.syspath_prepend(str(HERE))
    root = tmp_path / "sandbox"
    out, report = root / "deep" / "out", root / "deep" / "report"
    raw = {
        "name": "paths",
        "models": [{"name": "../../../escaped-model", "path": "synthetic:encoder"}],
        "intermediate": ["none", {"name": "../../escaped/condition", "tasks": ["syn-nli"]}],
        "targets": ["syn-para"],
        "seeds": [0, 1],
        "output_dir": str(out),
    }
    monkeypatch.setenv("FAKE_SECONDS", "0")
    assert not run_spec(spec_from_dict(raw), run_stage="reliability_fake_runner:run").failed
    result = cli("-q", "report", out, "--out", report)
    assert result.code == 0, result.err
    created = files_under(root)
    assert created and all(f.startswith(("deep/out/", "deep/report/")) for f in created), sorted(created)
    assert not (tmp_path / "escaped-model").exists() and not (root / "escaped").exists()
