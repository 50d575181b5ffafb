from concurrent.futures import ProcessPoolExecutor

from xstilts.io import write_text_once


def test_write_text_once_keeps_the_first_text_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "error.txt"
    assert write_text_once(path, "first") is True
    assert write_text_once(path, "second") is False
    assert path.read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["error.txt"]


def test_of_racing_processes_exactly_one_writes(tmp_path):
    path = tmp_path / "error.txt"
    texts = [f"rank {i}" for i in range(8)]
    with ProcessPoolExecutor(4) as pool:
        wins = list(pool.map(write_text_once, [path] * len(texts), texts))
    assert wins.count(True) == 1
    assert path.read_text() == texts[wins.index(True)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["error.txt"]
