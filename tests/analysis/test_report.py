"""The report: from a results store (or a simulated score table) to findings, tables and files."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from xstilts.analysis.report import (
    IntervalOptions,
    ReportOptions,
    build_report,
    classify_conditions,
    frame_data,
    load_store_data,
    reference_comparison,
    to_markdown,
    write_outputs,
    write_report,
)
from xstilts.analysis.simulate import simulate_grid
from xstilts.errors import DataError
from xstilts.experiments.plan import plan
from xstilts.experiments.spec import spec_from_dict
from xstilts.experiments.store import ResultsStore
from xstilts.io import write_jsonl

FAST = ReportOptions(n_permutations=499, n_boot=200, figures=False)
WITH_FIGURES = ReportOptions(n_permutations=499, n_boot=200)
META = pd.DataFrame(
    {
        "language": ["en", "l1", "l2", "l3"],
        "distance": [0.0, 1.0, 2.0, 3.0],
        "relation": ["same genus"] + ["other family"] * 3,
    }
)


def _simulated(interaction: dict, gains: dict | None = None, rng: int = 1):
    return simulate_grid(
        intermediates=("none", "a", "b", "c"),
        targets=("t1", "t2"),
        seeds=3,
        gains=gains or {},
        interaction=interaction,
        distance={"en": 0, "l1": 1, "l2": 2, "l3": 3},
        seed_sd=0.5,
        noise_sd=0.5,
        rng=rng,
    )


def _report(sim, options: ReportOptions = FAST):
    return build_report(frame_data(sim.scores, metadata=META), options)


def test_report_options_gather_the_interval_settings_in_one_value():
    options = ReportOptions(level=0.9, ci_method="hierarchical", n_boot=50, seed=3)
    assert options.intervals == IntervalOptions(level=0.9, ci_method="hierarchical", n_boot=50, seed=3)
    assert options.intervals.as_kwargs() == {"level": 0.9, "ci_method": "hierarchical", "n_boot": 50, "seed": 3}
    assert ReportOptions().intervals == IntervalOptions()


# -- the answer: planted interaction vs none ---------------------------------------------------------
def test_planted_interaction_is_significant_in_the_summary():
    report = _report(_simulated({"a": 6.0}))
    answer = [f for f in report.findings if f.topic == "interaction"]
    assert answer and answer[0].significant
    assert "significant" in answer[0].text and "t1" in answer[0].text and "t2" in answer[0].text
    diverging = [f for f in report.findings if f.topic == "divergence" and f.significant]
    assert diverging and all(f.text.startswith("a → ") for f in diverging)  # only the planted task


def test_no_interaction_gives_no_significant_line():
    report = _report(_simulated({}, gains={}))
    assert not any("significant" in f.text for f in report.findings), [f.text for f in report.findings]
    assert not any(f.significant for f in report.findings)
    answer = [f for f in report.findings if f.topic == "interaction"]
    assert answer and "No evidence of divergence" in answer[0].text


def test_only_significant_findings_use_the_word():
    for report in (_report(_simulated({"a": 6.0}, gains={"b": 3.0})), _report(_simulated({}, gains={"b": 3.0}))):
        for f in report.findings:
            assert ("significant" in f.text) == f.significant, f.text


def test_single_seed_makes_the_interaction_untestable_and_says_so():
    sim = simulate_grid(intermediates=("none", "a"), seeds=1, interaction={"a": 10.0}, rng=3)
    report = build_report(frame_data(sim.scores), FAST)
    answer = [f for f in report.findings if f.topic == "interaction"]
    assert answer and not answer[0].significant
    assert "cannot be tested" in answer[0].text and "seed" in answer[0].text


def test_one_family_only_says_the_question_cannot_be_answered():
    sim = simulate_grid(decoders=(), seeds=2, rng=4)
    report = build_report(frame_data(sim.scores), FAST)
    answer = [f for f in report.findings if f.topic == "interaction"]
    assert "Only encoder models" in answer[0].text
    titles = [s.title for s in report.sections]
    assert "Encoder vs decoder" in titles  # the section says why it is empty


def test_distance_relation_finds_a_planted_slope():
    sim = simulate_grid(
        intermediates=("none", "a"),
        languages=("en", "l1", "l2", "l3", "l4", "l5"),
        seeds=4,
        distance={"en": 0, "l1": 1, "l2": 2, "l3": 3, "l4": 4, "l5": 5},
        distance_slope={"a": -3.0},
        noise_sd=0.3,
        seed_sd=0.3,
        rng=5,
    )
    meta = pd.DataFrame(
        {"language": [f"l{i}" for i in range(1, 6)] + ["en"], "distance": [1, 2, 3, 4, 5, 0], "relation": "x"}
    )
    report = build_report(frame_data(sim.scores, metadata=meta), FAST)
    slopes = [f for f in report.findings if f.topic == "language" and f.significant]
    assert slopes and all("-3." in f.text or "-2." in f.text for f in slopes)


# -- a results store ---------------------------------------------------------------------------------
SPEC = {
    "name": "report-test",
    "models": [
        {"name": "tiny-encoder", "path": "synthetic:encoder"},
        {"name": "tiny-decoder", "path": "synthetic:decoder"},
    ],
    "targets": ["syn-para", "syn-pos"],
    "intermediate": ["none", "syn-nli", {"name": "mix-nli", "tasks": ["syn-nli"], "lm_mix": {"ratio": 0.2}}],
    "seeds": [0, 1],
}
LANGS = ("en", "clo", "scr", "ord")


def _fill_store(root, spec=SPEC, skip=lambda stage: False, n=60, effect=None, rng=0, outcome=lambda stage: {}):
    """Register the spec's stages and finish them with synthetic scores and prediction files
    (evaluate stages), without any model. `effect(stage, language)` shifts the accuracy."""
    rng = np.random.default_rng(rng)
    stages = plan(spec_from_dict(spec))
    store = ResultsStore(root / "results.sqlite")
    store.register(spec["name"], stages)
    family = {"synthetic:encoder": "encoder", "synthetic:decoder": "decoder"}
    try:
        for stage in stages:
            if skip(stage):
                continue
            assert store.claim(stage.id, "w", 60)
            scores = []
            if stage.kind == "evaluate":
                rows = {}
                for lang in LANGS:
                    if any(g["language"] == lang for g in outcome(stage).get("missing_languages", [])):
                        continue
                    p = 0.6 + (effect(stage, lang) if effect else 0.0)
                    if stage.task == "syn-pos":
                        tp = rng.binomial(6, p, size=n)
                        values = np.stack([tp, 6 - tp, 6 - tp], axis=1)
                        tot = values.sum(axis=0)
                        score, metric = 200.0 * tot[0] / (2 * tot[0] + tot[1] + tot[2]), "f1"
                        per_example = values.tolist()
                    else:
                        correct = rng.random(n) < p
                        per_example = np.where(correct, 100.0, 0.0).tolist()
                        score, metric = float(np.mean(per_example)), "accuracy"
                    rows[lang] = [{"index": i, "score": s} for i, s in enumerate(per_example)]
                    scores.append(
                        {
                            "task": stage.task,
                            "language": lang,
                            "split": "validation",
                            "metric": metric,
                            "value": score,
                            "primary": True,
                            "n_examples": n,
                            "chance": 50.0 if metric == "accuracy" else None,
                        }
                    )
                for lang, r in rows.items():
                    write_jsonl(root / "stages" / stage.id / "predictions" / f"{lang}.jsonl", r)
            store.finish(stage.id, "w", {"family": family[stage.model.path]} | outcome(stage), {}, scores)
    finally:
        store.close()
    return root / "results.sqlite"


def test_store_report_end_to_end(tmp_path):
    held_back = {"n": 0}

    def skip(stage):  # leave one evaluate stage unfinished: a partial grid
        if (
            stage.kind == "evaluate"
            and stage.model.name == "tiny-decoder"
            and stage.condition.name == "mix-nli"
            and stage.seed == 1
            and stage.task == "syn-pos"
        ):
            held_back["n"] += 1
            return True
        return False

    store = _fill_store(tmp_path / "run", skip=skip)
    assert held_back["n"] == 1
    paths = write_report(store, tmp_path / "report", options=WITH_FIGURES)
    md, page = paths.markdown.read_text(), paths.html.read_text()
    summary = json.loads(paths.summary.read_text())

    assert "Evaluation split: validation" in md
    assert "Missing from the grid" in md and "1 of" in md
    assert any(f["topic"] == "grid" and "Partial grid" in f["text"] for f in summary["findings"])
    # figures: PNG and SVG files, and the HTML embeds them (self-contained)
    names = {p.name for p in paths.figures}
    assert {
        "gains-tiny-encoder.png",
        "gains-tiny-encoder.svg",
        "encoder-vs-decoder.png",
        "encoder-vs-decoder.svg",
    } <= names
    assert all(p.exists() for p in paths.figures)
    assert "data:image/png;base64," in page
    assert not re.search(r"<img[^>]+src='(?!data:)", page)
    # the LM-mixing variant sits beside plain syn-nli
    assert "LM mixing and translated data beside English intermediate training" in md
    assert re.search(r"\| tiny-encoder \| syn-para \| syn-nli \| [^|]+ \| mix-nli \| with LM mixing \|", md)
    # per-example intervals from the prediction files: tagging counts and accuracies both used
    assert "test examples" in md
    # synthetic benchmark: plain mean, labelled as such
    assert "synthetic (plain mean over tasks, not an XTREME score)" in md
    assert "Published numbers" in md and "does not reproduce the paper" in md


def test_tables_keep_spec_order_with_the_baseline_first(tmp_path):
    spec = dict(SPEC, targets=["syn-pos", "syn-para"], intermediate=["syn-nli", "none"], seeds=[0])
    store = _fill_store(tmp_path / "run", spec=spec)
    data = load_store_data(store)
    assert data.targets == ["syn-pos", "syn-para"]
    assert data.ordered_conditions[0] == "none"
    md = write_report(store, tmp_path / "report", options=FAST).markdown.read_text()
    header = next(line for line in md.splitlines() if line.startswith("| intermediate | syn-pos"))
    assert header.index("syn-pos") < header.index("syn-para")
    table = md[md.index("**tiny-encoder (encoder)**") :]
    assert table.index("| none |") < table.index("| syn-nli |")


def test_models_without_baseline_runs_are_reported_without_gains(tmp_path):
    store = _fill_store(tmp_path / "run", skip=lambda s: s.condition.name == "none" and s.model.name == "tiny-decoder")
    paths = write_report(store, tmp_path / "report", options=FAST)
    md = paths.markdown.read_text()
    assert "no baseline ('none') runs yet for tiny-decoder" in md
    assert "**tiny-decoder (decoder)**" in md  # its scores are still shown
    assert "tiny-encoder: gain matrix" in md and "tiny-decoder: gain matrix" not in md


def test_report_without_scores_is_a_one_line_error(tmp_path):
    store = _fill_store(tmp_path / "run", skip=lambda s: s.kind == "evaluate")
    with pytest.raises(DataError, match="no scores yet"):
        write_report(store, tmp_path / "report")
    with pytest.raises(DataError, match="no results store"):
        write_report(tmp_path / "nothing" / "results.sqlite", tmp_path / "report")


def test_cli_report_writes_the_pages_with_per_language_tables(tmp_path, capsys):
    from xstilts.cli import main

    store = _fill_store(tmp_path / "run", spec=dict(SPEC, seeds=[0], models=SPEC["models"][:1]))
    rc = main(["report", str(store.parent), "--per-language", "--bars-target", "syn-pos", "--permutations", "199"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "report.html" in out
    md = (store.parent / "report" / "report.md").read_text()
    assert "Per-language tables" in md and "tiny-encoder - syn-para: gain per language" in md
    assert (store.parent / "report" / "figures" / "languages-syn-pos.png").exists()


def test_cli_null_control_splits_one_familys_models_and_writes_how_often_the_test_fires(tmp_path, capsys):
    from xstilts.cli import main

    # four encoders of one recipe (distinct models: their retrieval layers differ, which these targets never use)
    encoders = [{"name": f"enc-{k}", "path": "synthetic:encoder", "retrieval_layer": k} for k in range(1, 5)]
    spec = dict(SPEC, models=encoders, intermediate=["none", "syn-nli", "syn-squad"])
    store = _fill_store(tmp_path / "run", spec=spec)
    assert main(["report", str(store.parent), "--null-control", "encoder", "--permutations", "99"]) == 0
    out = capsys.readouterr().out
    assert "null control on 4 encoder models, 3 balanced splits x 2 targets" in out
    tests = pd.read_csv(store.parent / "report" / "null-control.csv")
    assert len(tests) == 6 and tests["p_value"].between(0, 1).all()
    assert not (store.parent / "report" / "report.md").exists()  # the control only, not the report
    with pytest.raises(SystemExit):
        main(["report", str(store.parent), "--null-control", "transformer"])
    assert main(["report", str(store.parent), "--null-control", "encoder", "--control-models", "enc-1,enc-2,enc-3,enc-4", "--permutations", "99"]) == 0
    assert "null control on 4 encoder models" in capsys.readouterr().out
    assert main(["report", str(store.parent), "--planted-control", "enc-1,enc-2|enc-3,enc-4", "--permutations", "99"]) == 0
    assert "planted control enc-1+enc-2 | enc-3+enc-4: the interaction test fired on" in capsys.readouterr().out
    planted = pd.read_csv(store.parent / "report" / "planted-control.csv")
    assert set(planted["target"]) == set(spec["targets"])
    assert planted["first_gain"].notna().all() and planted["p_value"].between(0, 1).all()
    for bad, message in ((["--planted-control", "enc-1,enc-2"], "joined by '|'"), (["--planted-control", "enc-1,enc-9|enc-3,enc-4"], "enc-9: not among"),
                         (["--control-models", "enc-1"], "only with --null-control")):
        assert main(["report", str(store.parent), *bad]) != 0
        assert message in capsys.readouterr().err


def test_layer_sweep_rows_are_plotted(tmp_path):
    store = _fill_store(tmp_path / "run", spec=dict(SPEC, seeds=[0], targets=["syn-para"], models=SPEC["models"][:1]))
    db = ResultsStore(store)
    try:
        stage_id = db.cells_frame().query("kind == 'evaluate'")["stage_id"].iloc[0]
        with db.transaction() as c:
            for layer in range(5):
                for lang in LANGS:
                    c.execute(
                        "INSERT INTO scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (stage_id, "syn-para", lang, "validation", f"accuracy@layer{layer}", 40.0 + layer, 0, 60, None),
                    )
    finally:
        db.close()
    data = load_store_data(store)
    assert sorted(data.layer_sweep["layer"].unique()) == [0, 1, 2, 3, 4]
    paths = write_report(store, tmp_path / "report", options=WITH_FIGURES)
    assert "Layer sweep (retrieval)" in paths.markdown.read_text()
    assert any(p.name.startswith("layers-syn-para") for p in paths.figures)


# -- conditions, benchmarks, published numbers -------------------------------------------------------
def test_conditions_are_classified_from_specs_and_names():
    specs = {
        "none": {"tasks": []},
        "mnli": {"tasks": ["mnli"]},
        "mnli+mlm": {"tasks": ["mnli"], "lm_mix": {"ratio": 0.2, "corpus": "synthetic"}},
        "mnli-mt": {"tasks": ["mnli"], "translated": ["de", "fr"]},
    }
    c = classify_conditions(list(specs), specs)
    assert [c[n].kind for n in specs] == ["baseline", "english", "lm_mix", "translated"]
    assert c["mnli+mlm"].base == c["mnli-mt"].base == "mnli"
    by_name = classify_conditions(["none", "squad", "mlm-mix:squad", "translated:squad", "translated:qqp"])
    assert by_name["mlm-mix:squad"].kind == "lm_mix" and by_name["mlm-mix:squad"].base == "squad"
    assert by_name["translated:squad"].base == "squad"
    assert by_name["translated:qqp"].base is None  # no plain qqp condition to compare with


def _real_benchmark_frame(model_path: str = "FacebookAI/xlm-roberta-large") -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, extra = [], []
    for inter, shift in (("none", 0.0), ("mnli", 2.0)):
        for target, metric, langs in (("xnli", "accuracy", ("en", "de", "ar")), ("xquad", "f1", ("en", "de"))):
            for lang in langs:
                score = 70.0 + shift + (5.0 if lang == "en" else 0.0)
                rows.append(
                    {
                        "model": "xlmr",
                        "family": "encoder",
                        "intermediate": inter,
                        "target": target,
                        "language": lang,
                        "seed": 0,
                        "score": score,
                        "metric": metric,
                        "model_path": model_path,
                        "split": "validation",
                    }
                )
                if target == "xquad":
                    extra.append(
                        {
                            "model": "xlmr",
                            "intermediate": inter,
                            "target": target,
                            "language": lang,
                            "seed": 0,
                            "metric": "exact_match",
                            "score": score - 10.0,
                        }
                    )
    return pd.DataFrame(rows), pd.DataFrame(extra)


def test_xtreme_scores_use_the_official_aggregation():
    scores, extra = _real_benchmark_frame()
    report = build_report(frame_data(scores, metrics=extra), FAST)
    md_tables = {b.caption: b.frame for s in report.sections for b in s.blocks if hasattr(b, "frame")}
    xtreme = md_tables["XTREME"]
    baseline = xtreme[xtreme["intermediate"] == "none"].iloc[0]
    # 3 of XNLI's 15 languages, 2 of XQuAD's 12: the averages are marked as partial
    assert baseline["xnli"] == "71.7 †"  # (75 + 70 + 70) / 3
    assert baseline["xquad"] == "67.5 †"  # ((65 + 60) / 2 + (75 + 70) / 2) / 2: (EM + F1) / 2
    note = next(b.note for s in report.sections for b in s.blocks if getattr(b, "caption", "") == "XTREME")
    assert "xnli 3/15, xquad 2/11" in note and "† averaged over fewer languages" in note
    assert baseline["score"] == "(needs every task)"
    assert "pawsx" in baseline["missing"]
    # real languages have no numeric distance: gains are grouped by relation to English and script
    assert "Gain by relation" in md_tables and "Gain by same_script" in md_tables
    assert set(md_tables["Gain by relation"]["relation"]) == {"same genus", "other family"}


def test_published_numbers_beside_ours_when_the_grid_reproduces_the_paper():
    scores, extra = _real_benchmark_frame()
    data = frame_data(scores, metrics=extra)
    table = reference_comparison(data).set_index("task")
    assert table.loc["xnli", "paper_xstilts"] == 80.4 and table.loc["xnli", "paper_xlmr"] == 79.2
    assert table.loc["xnli", "ours_gain"] == pytest.approx(2.0)
    assert table.loc["xnli", "best_intermediate"] == "mnli"
    report = build_report(data, FAST)
    assert any(f.topic == "reference" and "paper +1.2" in f.text for f in report.findings)
    other = frame_data(_real_benchmark_frame("synthetic:encoder")[0])
    assert reference_comparison(other) is None


@pytest.fixture(scope="module")
def written_report(tmp_path_factory):
    return write_outputs(_report(_simulated({"a": 6.0}), WITH_FIGURES), tmp_path_factory.mktemp("report"))


def test_written_files_and_self_contained_html(written_report):
    paths = written_report
    page = paths.html.read_text()
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "class='answer'" in page
    assert {p.suffix for p in paths.figures} == {".png", ".svg"}
    assert "![" in paths.markdown.read_text()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_html_report_renders_in_headless_chromium(tmp_path, written_report):
    from PIL import Image

    paths = written_report
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1200,2000",
            paths.html.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (2000, 1200)
    assert (pixels < 100).mean() > 0.01  # text and figures were drawn, not a blank page


def test_xtreme_gain_of_the_best_intermediate_per_target_beside_the_paper():
    rows, extra = [], []
    qa = {"xquad", "mlqa", "tydiqa"}
    for target in ("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba"):
        metric = "accuracy" if target in ("xnli", "pawsx", "tatoeba") else "f1"
        for inter, shift in (
            ("none", 0.0),
            ("mnli", 4.0 if target == "xnli" else -1.0),
            ("squad", 2.0 if target in qa else 0.0),
        ):
            for lang in ("de",) if target in ("bucc2018", "tatoeba") else ("en", "de"):
                rows.append(
                    {
                        "model": "xlmr",
                        "family": "encoder",
                        "intermediate": inter,
                        "target": target,
                        "language": lang,
                        "seed": 0,
                        "score": 60.0 + shift,
                        "metric": metric,
                        "model_path": "xlm-roberta-large",
                        "split": "validation",
                    }
                )
                if target in qa:
                    extra.append(
                        {
                            "model": "xlmr",
                            "intermediate": inter,
                            "target": target,
                            "language": lang,
                            "seed": 0,
                            "metric": "exact_match",
                            "score": 50.0 + shift,
                        }
                    )
    report = build_report(frame_data(pd.DataFrame(rows), metrics=pd.DataFrame(extra)), FAST)
    section = next(s for s in report.sections if s.title.startswith("Published numbers"))
    line = next(b for b in section.blocks if isinstance(b, str) and "XTREME score" in b)
    # baseline: mean of six tasks at 60 and three QA tasks at (50 + 60) / 2 = 55; best per target adds 4 (xnli) and 2 to each QA task
    assert "XTREME score 58.3 without" in line and "a gain of +1.1 points (paper: +5.4)" in line


def test_per_example_scores_give_hierarchical_intervals():
    sim = simulate_grid(intermediates=("none", "a"), seeds=3, n_examples=80, interaction={"a": 4.0}, rng=6)
    report = build_report(
        frame_data(sim.scores, sim.examples),
        ReportOptions(ci_method="hierarchical", n_boot=200, n_permutations=199, figures=False),
    )
    gains = next(s for s in report.sections if s.title == "Gains from intermediate training")
    assert "bootstrap over fine-tuning seeds and then test examples" in gains.blocks[0]


def test_grid_without_any_baseline_runs_still_reports_scores():
    sim = simulate_grid(intermediates=("none", "a"), seeds=2, rng=7)
    report = build_report(frame_data(sim.scores[sim.scores["intermediate"] != "none"]), FAST)
    assert "No model has baseline" in report.findings[0].text
    scores = next(s for s in report.sections if s.title == "Scores")
    assert any(getattr(b, "caption", "") == "enc (encoder)" for b in scores.blocks)


# -- scope of the headline and the gate on stars -------------------------------------------------------
def test_headline_carries_the_fixed_models_caveat_with_one_model_per_family():
    for interaction in ({"a": 6.0}, {}):
        answer = [f for f in _report(_simulated(interaction)).findings if f.topic == "interaction"]
        assert "compares two models, not two architectures" in answer[0].text


def test_headline_says_models_are_random_with_three_models_per_family():
    sim = simulate_grid(
        encoders=("e1", "e2", "e3"), decoders=("d1", "d2", "d3"), model_sd=0.5, interaction={"a": 8.0}, rng=8
    )
    report = build_report(frame_data(sim.scores), FAST)
    answer = [f for f in report.findings if f.topic == "interaction"]
    assert "random draws from their family" in answer[0].text and "two models" not in answer[0].text
    text = "\n".join(b for s in report.sections for b in s.blocks if isinstance(b, str))
    assert "Inference made: random models" in text


def _slope_cells(report):
    for sec in report.sections:
        for b in sec.blocks:
            if getattr(b, "caption", "").startswith(("Gain against distance", "Encoder-minus-decoder difference against")):
                yield b.frame


@pytest.mark.parametrize(("languages", "seeds"), [(("en", "l1", "l2", "l3"), 2), (("en", "l1", "l2", "l3", "l4"), 1)])
def test_slopes_failing_the_findings_gate_are_not_starred(languages, seeds):
    """3 zero-shot languages (1 residual df) or 1 seed: no star, and with 3 languages no p-value,
    however steep and exact the planted slope."""
    sim = simulate_grid(
        intermediates=("none", "a"),
        languages=languages,
        seeds=seeds,
        distance={lang: float(i) for i, lang in enumerate(languages)},
        distance_slope={"a": -5.0},
        seed_sd=0.01,
        noise_sd=0.01,
        rng=9,
    )
    meta = pd.DataFrame({"language": list(languages), "distance": [float(i) for i in range(len(languages))], "relation": "x"})
    report = build_report(frame_data(sim.scores, metadata=meta), FAST)
    frames = list(_slope_cells(report))
    assert frames
    for frame in frames:
        assert not frame["slope per unit"].str.endswith(" *").any(), frame
        if len(languages) == 4:
            assert (frame["p"] == "").all()
    assert not [f for f in report.findings if f.topic == "language" and f.significant]


def test_missing_languages_and_stages_that_did_not_learn_are_shown_and_marked(tmp_path):
    def outcome(stage):
        if stage.kind == "evaluate" and stage.task == "syn-para" and stage.model.name == "tiny-encoder":
            reason = "syn-para: data file not found: /data/ord.jsonl"
            return {"missing_languages": [{"task": "syn-para", "language": "ord", "split": "validation", "reason": reason}]}
        if stage.kind == "target" and stage.condition.name == "none" and stage.task == "syn-pos" and stage.seed == 0:
            tasks = [{"task": "syn-pos", "metric": "f1", "dev": 31.0, "chance": None, "majority": 30.5}]
            return {"flags": {"not_learned": {"tasks": tasks, "hint": "learning rate 2e-05 and 4 steps: raise it"}}}
        return {}

    spec = dict(SPEC, intermediate=["none", "syn-nli"])
    store = _fill_store(tmp_path / "run", spec=spec, outcome=outcome)
    data = load_store_data(store)
    report = build_report(data, FAST)
    md = to_markdown(report)
    # every encoder syn-para run lacks ord, with the reason, in one line
    assert "- syn-para: 3/4 languages; missing: ord (syn-para: data file not found: /data/ord.jsonl); 4 runs:" in md
    assert any(f.topic == "gaps" and "4 evaluation runs of syn-para lack languages (ord)" in f.text for f in report.findings)
    # the synthetic plain mean over targets is marked where it averages over fewer languages
    table = next(b for s in report.sections for b in s.blocks if getattr(b, "caption", "").startswith("synthetic"))
    frame = table.frame.set_index(["model", "intermediate"])
    assert frame.loc[("tiny-encoder", "none"), "syn-para"].endswith(" †")
    assert frame.loc[("tiny-encoder", "none"), "score"].endswith(" †")
    assert not frame.loc[("tiny-encoder", "none"), "syn-pos"].endswith(" †")
    assert not frame.loc[("tiny-decoder", "none"), "score"].endswith(" †")
    assert "† averaged over fewer languages" in table.note
    # the stages that did not learn: a section naming stage, score and levels, and a finding
    assert "## Stages that did not learn" in md
    for model in ("tiny-encoder", "tiny-decoder"):
        assert f"- target/{model}/none/syn-pos/seed0 did not learn: English dev at chance or majority-class level (syn-pos f1 31.0, majority 30.5); learning rate 2e-05" in md
    assert any(f.topic == "not learned" and "2 training stages did not learn" in f.text for f in report.findings)


def test_a_complete_grid_has_no_gap_or_flag_sections(tmp_path):
    report = build_report(load_store_data(_fill_store(tmp_path / "run", spec=dict(SPEC, intermediate=["none", "syn-nli"], seeds=[0]))), FAST)
    titles = [s.title for s in report.sections]
    assert "Missing languages" not in titles and "Stages that did not learn" not in titles
    assert not any(f.topic in ("gaps", "not learned") for f in report.findings)


def test_both_families_with_only_the_baseline_condition_still_report():
    """A grid whose intermediate runs have not started yet: scores, no gains, no crash."""
    sim = _simulated({})
    report = build_report(frame_data(sim.scores[sim.scores["intermediate"] == "none"], metadata=META), FAST)
    assert any(s.title == "Scores" for s in report.sections)


def test_a_lone_divergent_cell_on_a_quiet_target_is_reconciled_with_the_answer():
    """The test over a target's intermediate tasks can stay quiet while one task's own contrast
    passes: the answer says so instead of 'no evidence' next to 'a significant divergence'."""
    from xstilts.analysis.report.statistics import analyse
    from xstilts.analysis.report.summary import findings

    data = frame_data(_simulated({}, gains={}).scores, metadata=META)
    a = analyse(data, FAST)
    answer = next(f for f in findings(data, a) if f.topic == "interaction")
    assert "No evidence of divergence" in answer.text and "passes its own test" not in answer.text
    frame = a.divergence.frame
    first = frame.index[(frame["target"] == "t1") & frame["testable"]][0]
    frame.loc[first, "p_holm"] = 0.001  # one cell of a quiet target passes
    texts = [f.text for f in findings(data, a)]
    answer = next(t for t in texts if "No evidence of divergence" in t)
    assert "On t1, a single intermediate task's contrast passes its own test" in answer
    assert any(t.startswith(f"{frame.loc[first, 'intermediate']} → t1") and "a significant divergence" in t for t in texts)
