"""Speed and memory benchmarks of xstilts against the plain Hugging Face recipe (`python benchmarks/run.py`)."""
