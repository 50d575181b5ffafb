"""The synthetic benchmark's model variants: names, seeds, fingerprints and how paths resolve."""

from __future__ import annotations

import pytest

from xstilts.errors import ConfigError
from xstilts.experiments.catalog import model_facts
from xstilts.experiments.spec import spec_from_dict
from xstilts.models.backbone import BackboneOptions, resolve_model_path
from xstilts.models.preflight import check_model
from xstilts.synthetic.files import SyntheticBenchmark
from xstilts.synthetic.spec import MODEL_NAMES, PRETRAINING_VARIANTS, ModelVariant, SyntheticSpec, model_variant

# The fingerprint of the shipped models (xstilts/synthetic/pretrained/): variants must not change it.
SHIPPED_FINGERPRINT = "48ce50e990b6"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("encoder", ModelVariant("encoder", 0)),
        ("decoder", ModelVariant("decoder", 0)),
        ("encoder-1", ModelVariant("encoder", 1)),
        ("decoder-2", ModelVariant("decoder", 2)),
    ],
)
def test_variant_names_parse_and_round_trip(name: str, expected: ModelVariant) -> None:
    assert model_variant(name) == expected
    assert expected.name == name


@pytest.mark.parametrize("name", ["encoder-0", "encoder-01", f"encoder-{PRETRAINING_VARIANTS}", "encoder-", "encoder-x", "encodr", "", "-1"])
def test_names_of_no_model_parse_to_none(name: str) -> None:
    assert model_variant(name) is None


def test_every_family_has_at_least_three_models() -> None:
    assert PRETRAINING_VARIANTS >= 3
    assert MODEL_NAMES[:3] == ("encoder", "encoder-1", "encoder-2")
    assert {model_variant(n).family for n in MODEL_NAMES} == {"encoder", "decoder"}  # type: ignore[union-attr]


def test_variant_zero_keeps_the_shipped_fingerprint_and_folder(tmp_path) -> None:
    spec = SyntheticSpec()
    assert spec.pretraining_fingerprint == SHIPPED_FINGERPRINT
    assert spec.model_fingerprint(0) == SHIPPED_FINGERPRINT
    assert spec.pretraining_seed(0) == spec.seed
    bench = SyntheticBenchmark(spec, root=tmp_path)
    assert bench.model_dir("encoder") == tmp_path / "synthetic" / SHIPPED_FINGERPRINT / "encoder"


def test_variants_have_their_own_seed_fingerprint_and_folder(tmp_path) -> None:
    spec = SyntheticSpec()
    seeds = {spec.pretraining_seed(v) for v in range(PRETRAINING_VARIANTS)}
    fingerprints = {spec.model_fingerprint(v) for v in range(PRETRAINING_VARIANTS)}
    assert len(seeds) == len(fingerprints) == PRETRAINING_VARIANTS
    bench = SyntheticBenchmark(spec, root=tmp_path)
    assert len({bench.model_dir(n) for n in MODEL_NAMES}) == len(MODEL_NAMES)
    # a variant's fingerprint follows the recipe: another recipe gives other fingerprints
    other = SyntheticSpec(vocab_size=spec.vocab_size + 1)
    assert other.model_fingerprint(1) != spec.model_fingerprint(1)


def test_variant_paths_pass_the_spec_and_keep_their_family() -> None:
    raw = {
        "name": "variants",
        "models": [{"name": n, "path": f"synthetic:{n}"} for n in MODEL_NAMES],
        "intermediate": ["none"],
        "targets": ["syn-para"],
    }
    spec = spec_from_dict(raw)
    assert [m.path for m in spec.models] == [f"synthetic:{n}" for n in MODEL_NAMES]
    for name in MODEL_NAMES:
        facts = model_facts(f"synthetic:{name}")
        assert facts is not None and facts.family == name.split("-")[0]


def test_unknown_variants_give_one_line_errors_naming_the_path() -> None:
    raw = {"name": "bad", "models": [{"name": "m", "path": "synthetic:encoder-9"}], "intermediate": ["none"], "targets": ["syn-para"]}
    with pytest.raises(ConfigError, match=r"models\[0\]\.path: unknown synthetic model 'synthetic:encoder-9'") as err:
        spec_from_dict(raw)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=r"model 'synthetic:decoder-7': not a synthetic model") as err:
        resolve_model_path("synthetic:decoder-7")
    assert "\n" not in str(err.value) and "synthetic:decoder-2" in str(err.value)
    problems = check_model("m", "synthetic:encoder-6", BackboneOptions(), ["classification"])
    assert [p.problem for p in problems] == ["'synthetic:encoder-6' is not a synthetic model"]
    assert model_facts("synthetic:encoder-6") is None


def test_preflight_accepts_a_variant_not_pretrained_yet(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path))
    assert check_model("m", "synthetic:decoder-1", BackboneOptions(), ["classification"]) == []
