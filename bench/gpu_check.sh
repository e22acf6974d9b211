#!/bin/bash
# Issue 26 on one GPU (one call, about 8 minutes at most): the CUDA tests, the equality of the
# labels made on the device with the CPU's, and the end-to-end figures. Logs come back in $OUT.
#
#   here, once:  python bench/pack_data.py --data ../shared/data --out runs/devval --split val
#   device call (carry ["runs/devval"], timeout_s 540):   bash bench/gpu_check.sh
#   here, after: copy the figures of FILES_AT/bench_gpu.log and FILES_AT/equality.log into
#                docs/performance.md ("Whole pipeline (GPU)"), with the date and the GPU.
#
# Each step has its own timeout and a failed step does not stop the next; summary.log says
# how each step ended. Without runs/devval the equality runs on synthetic images only.
set -uo pipefail
export PYTHONPATH=src PYTHONUNBUFFERED=1
OUT=${OUT:?set OUT to a folder for the logs}
VAL=(runs/devval/val/dsb2018_train runs/devval/val/kromp2020_fluo runs/devval/val/bitdepth_nucseg)
[ -f "${VAL[0]}/index.tsv" ] || VAL=()

step() {  # step NAME SECONDS COMMAND...: run it with a timeout, log to $OUT/NAME.log
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    local rc=$?
    echo "$name: rc $rc in $((SECONDS - t0)) s (limit $limit s)" | tee -a "$OUT/summary.log"
    tail -n 4 "$OUT/$name.log"
}

step env 30 bash -c 'nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv;
    python3 -c "import torch, scipy, skimage; print(torch.__version__, torch.version.cuda,
    torch.cuda.is_available(), scipy.__version__, skimage.__version__)"'
step install 45 python3 -m pip install -q --no-deps --no-build-isolation -e .
# the image there has no setuptools-scm, so the install may fail: PYTHONPATH=src then serves,
# and the bundled weights come through a link (src/napari_unet_nuclei/weights -> weights/)
python3 -c "import napari_unet_nuclei.weights" 2>/dev/null ||
    ln -sfn ../../weights src/napari_unet_nuclei/weights
python3 -c "from napari_unet_nuclei._model import bundled_weights_path as p; print(p('general'))" \
    2>&1 | tee -a "$OUT/summary.log"
step test_cuda 100 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py
step test_device 60 python3 -m pytest -q -p no:cacheprovider tests/test_postprocess.py -k cuda
step equality 120 python3 bench/bench_gpu.py --equality --sizes 4096 ${VAL[@]:+--data "${VAL[@]}"}
step bench_gpu 150 python3 bench/bench_gpu.py --sizes 4096 8192 --folder 16 --repeat 2
