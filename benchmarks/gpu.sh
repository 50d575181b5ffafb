#!/usr/bin/env bash
# GPU figures in one short run (~9-10 minutes on one H200): xstilts, and xstilts with packing
# (XLM-R Large shape; the flash-attention varlen path where flash-attn is installed, else sdpa with
# a block-diagonal mask), against hf-grouped (the Trainer with dynamic padding, length grouping and
# bf16) at the XLM-R Large and Llama-3.2-1B shapes, random weights, bf16 autocast, max_length 256,
# batch 32, 2 interleaved repeats, MFU against the GPU's dense bf16 peak; the chunked LM-mixing
# loss against the model's own at a 250,002-word head; 100k x 100k retrieval. Results go to
# benchmarks/results/cuda-*-gpu-<date>.{json,md} and lm-loss-cuda-*: commit them.
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
    xlmr-large) tasks=classification,qa; recipes=xstilts,xstilts-packed,hf-grouped ;;  # ~3.5 min
    decoder-1b) tasks=classification; recipes=xstilts,hf-grouped ;;  # ~2 min: the 128k-vocabulary embedding dominates start-up
    *) echo "benchmarks/gpu.sh: unknown shape $shape (xlmr-large, decoder-1b)" >&2; exit 2 ;;
  esac
  "$PYTHON" benchmarks/run.py --device cuda --shape "$shape" --quick --sections training \
    --recipes "$recipes" --repeats 2 --tasks "$tasks" --max-length 256 --batch-size 32 \
    --threads "$OMP_NUM_THREADS" --name "cuda-$shape-gpu-$STAMP"
done
"$PYTHON" benchmarks/lm_loss.py --device cuda --dtype bf16 --hidden 1024 --layers 4 --batch 32 --length 256
"$PYTHON" benchmarks/run.py --device cuda --sections retrieval --retrieval 100000x100000x1024,100000x100000x1024:anisotropic \
  --threads "$OMP_NUM_THREADS" --name "cuda-retrieval-gpu-$STAMP"
echo "done: benchmarks/results/cuda-*-gpu-$STAMP.{json,md}"
