#!/usr/bin/env bash
# GPU figures in one short run (~8 minutes on one H200): xstilts against hf-grouped (the Trainer
# with dynamic padding, length grouping and bf16) at the XLM-R Large and Llama-3.2-1B shapes,
# random weights, bf16 autocast, max_length 256, batch 32, 2 interleaved repeats, MFU against the
# GPU's dense bf16 peak. Results go to benchmarks/results/cuda-<shape>-gpu-<date>.{json,md}:
# commit them.
#
#   bash benchmarks/gpu.sh                  # both shapes
#   SHAPES=xlmr-large bash benchmarks/gpu.sh
#   PYTHON=.venv/bin/python bash benchmarks/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
SHAPES=${SHAPES:-"xlmr-large decoder-1b"}
STAMP=$(date -u +%Y%m%d-%H%M)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
"$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'benchmarks/gpu.sh: no CUDA device visible to torch')"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv,noheader || true
for shape in $SHAPES; do
  case "$shape" in
    xlmr-large) tasks=classification,qa ;;   # ~2.5 min: 2 tasks x 2 recipes x 2 repeats
    decoder-1b) tasks=classification ;;      # ~2 min: the 128k-vocabulary embedding dominates start-up
    *) echo "benchmarks/gpu.sh: unknown shape $shape (xlmr-large, decoder-1b)" >&2; exit 2 ;;
  esac
  "$PYTHON" benchmarks/run.py --device cuda --shape "$shape" --quick --sections training \
    --recipes xstilts,hf-grouped --repeats 2 --tasks "$tasks" --max-length 256 --batch-size 32 \
    --threads "$OMP_NUM_THREADS" --name "cuda-$shape-gpu-$STAMP"
done
"$PYTHON" benchmarks/run.py --device cuda --sections retrieval --retrieval 100000x100000x1024,100000x100000x1024:anisotropic \
  --threads "$OMP_NUM_THREADS" --name "cuda-retrieval-gpu-$STAMP"
echo "done: benchmarks/results/cuda-*-gpu-$STAMP.{json,md}"
