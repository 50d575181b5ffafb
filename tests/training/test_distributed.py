import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_two_process_ddp_on_cpu_keeps_replicas_identical(tiny_models, tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun is not installed beside this Python")
    script = Path(__file__).with_name("ddp_worker.py")
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [torchrun, "--nproc_per_node", "2", str(script), str(tiny_models["encoder"]), str(tmp_path / "work"), str(tmp_path)],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [json.loads(path.read_text()) for path in sorted(tmp_path.glob("rank*.json"))]
    assert sorted(r["rank"] for r in rows) == [0, 1]
    assert all(r["processes"] == 2 and r["steps"] == 6 for r in rows)
    assert rows[0]["checksum"] == rows[1]["checksum"]  # gradients were averaged across processes
    assert (tmp_path / "work" / "BEST").exists()  # the main process evaluated and saved
