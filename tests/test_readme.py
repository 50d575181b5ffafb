"""The README's example spec is a valid spec, and its commands exist."""

import re
from pathlib import Path

import yaml

from xstilts.cli import COMMANDS
from xstilts.experiments.spec import spec_from_dict

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_spec_is_valid():
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks
    spec = spec_from_dict(yaml.safe_load(blocks[0]), where="README.md")
    assert {m.name for m in spec.models} == {"xlmr-base", "bloom-560m"}


def test_readme_commands_exist():
    shell = "\n".join(re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S))
    used = set(re.findall(r"^xstilts (\w+)", shell, flags=re.M))
    assert used and used <= set(COMMANDS)


def test_readme_gives_the_two_make_targets_and_ci_runs_the_test_one():
    text = README.read_text()
    assert "make demo" in text and "make test" in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci
