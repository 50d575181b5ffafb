#!/usr/bin/env bash
# GPU figures on one GPU, in parts ordered by what matters most, so that a run stopped by a lease's
# time limit keeps the parts (and, within a part, the cases) it finished:
#   xlmr-qa                 xstilts, xstilts-packed and hf-grouped (the Trainer with dynamic padding,
#                           length grouping and bf16) at the XLM-R Large shape, on QA
#   xlmr-classification     as xlmr-qa, on classification
#   profile                 benchmarks/profile_step.py at XLM-R Large, classification: where the step
#                           goes, xstilts and hf-grouped each in its own process (~1.5 min)
#   lm-loss                 the chunked LM-mixing loss against the model's own at a 250,002-word head
#   retrieval               100k x 100k x 1024 Tatoeba/BUCC search
#   decoder-classification  xstilts and hf-grouped at the Llama-3.2-1B shape
#   xlmr-classification-torch-attention  both recipes on torch's own attention kernels (cuDNN
#                           attention on an H200, whose graph is built for every new batch shape)
#   xlmr-classification-pad8  both recipes with batches padded to a multiple of 8 (as the
#                           transformers examples do under fp16): fewer distinct shapes
# Every part but torch-attention holds both recipes to xstilts' attention default (`auto`: flash,
# efficient and math on CUDA; xstilts.models.sdpa), so the Trainer is not measured on the kernels
# xstilts avoids.
# Training parts: random weights, bf16 autocast, max_length 256, batch 32, 2 interleaved repeats,
# MFU against the GPU's dense bf16 peak (whole window and steady window). Packing uses the
# flash-attention varlen path where flash-attn is installed, else sdpa with a block-diagonal mask.
# Before the parts, a bf16 matrix product measures the card's real ceiling (MFU is against the
# datasheet's). Results: $RESULTS/cuda-<part>-gpu-<date>.json (and .md unless NO_MARKDOWN=1; render
# later with `python benchmarks/run.py --render FILE.json`); lm-loss-cuda-*.json. Commit them.
#
#   bash benchmarks/gpu.sh                              # every part
#   PARTS="xlmr-classification xlmr-qa" bash benchmarks/gpu.sh
#   PYTHON=.venv/bin/python RESULTS=/tmp/out NO_MARKDOWN=1 bash benchmarks/gpu.sh
set -uo pipefail  # no -e: a failed part is reported and the next one runs
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
PARTS=${PARTS:-"xlmr-qa xlmr-classification profile lm-loss retrieval decoder-classification xlmr-classification-torch-attention xlmr-classification-pad8"}
RESULTS=${RESULTS:-benchmarks/results}
STAMP=$(date -u +%Y%m%d-%H%M)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
markdown=(); [ "${NO_MARKDOWN:-0}" = 1 ] && markdown=(--no-markdown)
"$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'benchmarks/gpu.sh: no CUDA device visible to torch')" || exit 2
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv,noheader || true
"$PYTHON" - <<'EOF' || true
import torch, transformers
a, b = (torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16) for _ in range(2))
for _ in range(3):
    a @ b
start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
start.record()
for _ in range(20):
    a @ b
end.record()
torch.cuda.synchronize()
print(f"ceiling: bf16 8192^3 matrix product {2 * 8192**3 * 20 / (start.elapsed_time(end) / 1e3) / 1e12:.0f} TFLOP/s (random data, mean of 20); "
      f"torch {torch.__version__}, transformers {transformers.__version__}", flush=True)
EOF
failed=()
for part in $PARTS; do
  echo "== $part ($(date -u +%H:%M:%S))"
  extra=()  # flags of this part's training run beyond the shared ones
  case "$part" in
    profile)
      "$PYTHON" benchmarks/profile_step.py --device cuda --shape xlmr-large --task classification --recipes xstilts,hf-grouped \
        --steps 24 --skip 8 --active 10 --threads "$OMP_NUM_THREADS" --json "$RESULTS/profile-cuda-xlmr-large-classification-$STAMP.json" || failed+=("$part")
      continue ;;
    xlmr-classification-torch-attention) shape=xlmr-large; tasks=classification; recipes=xstilts,hf-grouped; extra=(--sdpa-backends torch) ;;
    xlmr-classification-pad8) shape=xlmr-large; tasks=classification; recipes=xstilts,hf-grouped; extra=(--pad-to-multiple-of 8) ;;
    xlmr-classification) shape=xlmr-large; tasks=classification; recipes=xstilts,xstilts-packed,hf-grouped ;;
    decoder-classification) shape=decoder-1b; tasks=classification; recipes=xstilts,hf-grouped ;;
    xlmr-qa) shape=xlmr-large; tasks=qa; recipes=xstilts,xstilts-packed,hf-grouped ;;
    lm-loss)
      "$PYTHON" benchmarks/lm_loss.py --device cuda --dtype bf16 --hidden 1024 --layers 4 --batch 32 --length 256 --out "$RESULTS" || failed+=("$part")
      continue ;;
    retrieval)
      "$PYTHON" benchmarks/run.py --device cuda --sections retrieval --retrieval 100000x100000x1024,100000x100000x1024:anisotropic \
        --threads "$OMP_NUM_THREADS" --out "$RESULTS" "${markdown[@]}" --name "cuda-retrieval-gpu-$STAMP" || failed+=("$part")
      continue ;;
    *) echo "benchmarks/gpu.sh: unknown part $part" >&2; failed+=("$part"); continue ;;
  esac
  "$PYTHON" benchmarks/run.py --device cuda --shape "$shape" --sections training "${extra[@]}" \
    --recipes "$recipes" --repeats 2 --tasks "$tasks" --max-length 256 --batch-size 32 \
    --threads "$OMP_NUM_THREADS" --out "$RESULTS" "${markdown[@]}" --name "cuda-$part-gpu-$STAMP" || failed+=("$part")
done
echo "done ($(date -u +%H:%M:%S)): $RESULTS/cuda-*-gpu-$STAMP.json${failed[*]:+; failed: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]
