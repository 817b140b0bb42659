#!/usr/bin/env bash
# Everything the "GPU" section of docs/benchmarks.md needs, in one run on a machine with a CUDA
# GPU, written to one folder:
#
#   bash benchmarks/gpu_check.sh [OUT]     # OUT defaults to artifacts/gpu-check/<UTC time>
#
#   device.txt                   the card (torch.cuda.get_device_name), torch and CUDA versions
#   nvidia-smi.txt               nvidia-smi's report, where the command exists
#   benchmarks-NAME.md / .json / .log
#                                python -m benchmarks --device cuda, the torch suites in five
#                                groups (torch, metric_learning, vision, llm, torch_compile)
#   linear_ce.md / .json / .log  python -m benchmarks.linear_ce --device cuda (bfloat16 and
#                                float32, V = 32k, 128k, 256k; Liger-Kernel where it imports)
#   pytest-cuda.txt              python -m pytest -q -m cuda (the tests marked for a GPU)
#   status.txt                   each step's exit status (124: it ran out of its time)
#
# Each step has a time limit (560 s in all, estimates not yet tried on a GPU), so the whole ends
# within 10 minutes. PYTHON (default: python) runs the benchmarks and the tests; LIGER_PYTHON
# (default: .venv-vision/bin/python where it exists, else PYTHON) runs linear_ce, as
# Liger-Kernel lives in the second environment. A step that fails is recorded and the next one
# still runs.
set -u
cd "$(dirname "$0")/.."
out=${1:-artifacts/gpu-check/$(date -u +%Y%m%dT%H%M%SZ)}
python=${PYTHON:-python}
if [ -z "${LIGER_PYTHON:-}" ] && [ -x .venv-vision/bin/python ]; then
  LIGER_PYTHON=.venv-vision/bin/python
fi
liger_python=${LIGER_PYTHON:-$python}
export TF_CPP_MIN_LOG_LEVEL=3
mkdir -p "$out"
: > "$out/status.txt"

step() {  # step NAME SECONDS COMMAND... : run with a time limit, record the exit status
  local name=$1 limit=$2
  shift 2
  local start=$SECONDS
  echo "== $name (at most $limit s)" >&2
  timeout "$limit" "$@"
  local status=$?
  echo "$name exit=$status seconds=$((SECONDS - start))" >> "$out/status.txt"
}

"$python" - > "$out/device.txt" <<'EOF' || { echo "no CUDA device: see $out/device.txt" >&2; exit 1; }
import sys
import torch

print(f"torch {torch.__version__}, CUDA {torch.version.cuda}")
if not torch.cuda.is_available():
    print("CUDA is not available")
    sys.exit(1)
props = torch.cuda.get_device_properties(0)
print(f"{torch.cuda.get_device_name(0)}, {props.total_memory / 2**30:.1f} GiB")
EOF
cat "$out/device.txt" >&2
command -v nvidia-smi > /dev/null && nvidia-smi > "$out/nvidia-smi.txt" 2>&1

# python -m benchmarks --device cuda, a few suites at a time (a step that runs out of time loses
# only its own suites): NAME, seconds, suites
for group in "torch 100 torch" "metric_learning 50 metric_learning" \
  "vision 50 segmentation,image,self_supervised,transport" \
  "llm 50 linear_ce,linear_log_probs,linear_distill,llm,forecast" \
  "torch_compile 110 torch_compile"; do
  read -r name limit suites <<< "$group"
  step "benchmarks-$name" "$limit" "$python" -m benchmarks --device cuda --only "$suites" \
    --repeats 5 --sample-s 0.05 --json "$out/benchmarks-$name.json" \
    > "$out/benchmarks-$name.md" 2> "$out/benchmarks-$name.log"
done
step linear_ce 80 "$liger_python" -m benchmarks.linear_ce --device cuda \
  --json "$out/linear_ce.json" > "$out/linear_ce.md" 2> "$out/linear_ce.log"
step pytest_cuda 120 "$python" -m pytest -q -n 0 -m cuda > "$out/pytest-cuda.txt" 2>&1

cat "$out/status.txt" >&2
echo "results in $out" >&2
