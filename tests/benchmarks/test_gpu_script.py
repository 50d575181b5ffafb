"""benchmarks/gpu.sh runs on a borrowed GPU for minutes: a wrong recipe, shape or flag must be found here, not there."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from benchmarks.shapes import SHAPES
from benchmarks.training import RECIPES

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu.sh"


def test_gpu_script_is_valid_bash_and_names_known_shapes_and_recipes():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    text = SCRIPT.read_text()
    shapes = re.findall(r"shape=([\w-]+)", text)
    assert shapes and set(shapes) <= set(SHAPES)
    parts = re.search(r'PARTS=\$\{PARTS:-"([^"]+)"\}', text)
    assert parts and all(f"    {p})" in text for p in parts.group(1).split()), "every default part has a case"
    recipe_lists = re.findall(r"recipes=([\w,-]+)", text)
    assert recipe_lists and all(set(r.split(",")) <= set(RECIPES) for r in recipe_lists)


def test_gpu_script_flags_are_accepted_by_the_scripts_it_calls():
    """Every `benchmarks/<script>.py` flag the script passes is one that script's --help lists."""
    text = SCRIPT.read_text().replace("\\\n", " ")
    calls = re.findall(r'"\$PYTHON" (benchmarks/\w+\.py) ([^\n]+)', text)
    assert {script for script, _ in calls} == {"benchmarks/run.py", "benchmarks/lm_loss.py", "benchmarks/profile_step.py"}
    extra = " ".join(re.findall(r"extra=\(([^)]*)\)", text))  # per-part flags of the shared run.py call
    assert "--sdpa-backends" in extra and "--pad-to-multiple-of" in extra
    calls.append(("benchmarks/run.py", extra))
    for script, args in calls:
        helptext = subprocess.run([sys.executable, str(ROOT / script), "--help"], capture_output=True, text=True, check=True, cwd=ROOT).stdout
        for flag in re.findall(r"(--[\w-]+)", args):
            assert flag in helptext, f"{script} does not take {flag}"
