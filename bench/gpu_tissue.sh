#!/bin/bash
# Issue 24 on one H200: today's recipe (A: the DSB folder) and the candidate (B: DSB 0.6,
# kromp2020_fluo 0.2, bitdepth_nucseg 0.2), each trained from scratch without each held-out
# set, with the same steps, side by side. Weights and logs come back in $OUT; scoring is done
# afterwards on any machine by bench_loco.py --lodo --models (below).
#
# Runs (bench_loco.lodo_plan): held out kromp2020_fluo, bitdepth_nucseg and the 7 DSB source
# groups = 9 sets x 2 recipes = 18, less 1 (A without either folder is the same training):
# 17 runs x 2000 steps (batch 16) = 34,000 steps. Many small trainings side by side give about
# 105 steps/s in all on one H200 (bench/train_parallel.py: 19 jobs at 5.5 steps/s each, or 2
# at 52 each), so about 330 s of training plus about a minute of loading: all 17 at once,
# stopped by train_parallel's deadline (--seconds) in any case; an unfinished run comes back as
# NAME.unfinished.pt (its last checkpoint, every 500 steps).
#
# The data are 142 MB, a call carries 64 MiB: two parts (bench/pack_data.py), two calls.
#   here, once:   python bench/pack_data.py --data ../shared/data --out runs/devdata
#   device call 1 (carry ["runs/devdata/dsb"], timeout_s 180):   bash bench/gpu_tissue.sh stage
#   device call 2 AT ONCE, while the machine is warm (30 s)
#                 (carry ["runs/devdata/more"], timeout_s 600):   bash bench/gpu_tissue.sh train
#   here, after:  mkdir -p runs/tissue-models && for t in A B; do tar -xf FILES_AT/$t.tar \
#                     -C runs/tissue-models; done
#                 python bench/bench_loco.py --lodo --data ../shared/data/dsb2018_train \
#                     --holdout ../shared/data/kromp2020_fluo ../shared/data/bitdepth_nucseg \
#                     --models runs/tissue-models --steps 2000 --device cpu
# (scoring is about 1,500 segmentations: roughly 40 min on 2 CPU cores.)
# The A models without each DSB group are also the bases of issue 25's fine-tune gains:
#                 python bench/bench_finetune.py --data ../shared/data/dsb2018_train \
#                     --loco-models runs/tissue-models --loco-prefix A --device cpu
# Device time: about 2-3 min for call 1 (start, 40 MB in), about 9.5 min for call 2: no
# time for a second try within 15 min; if call 2 says call 1's data are gone, the session
# is over for this plan.
set -euo pipefail
DATA=/tmp/tissue-data
export PYTHONPATH=src PYTHONUNBUFFERED=1
# not installed there: the weights package (napari_unet_nuclei.weights) comes through a link
python3 -c "import napari_unet_nuclei.weights" 2>/dev/null ||
    ln -sfn ../../weights src/napari_unet_nuclei/weights
case "${1:-}" in
stage)
    mkdir -p "$DATA"
    cp -r runs/devdata/dsb/. "$DATA/"
    du -sh "$DATA"/*
    nvidia-smi --query-gpu=name,memory.used --format=csv
    ;;
train)
    test -f "$DATA/dsb2018_train/index.tsv" || { echo "no $DATA: run 'stage' first" >&2; exit 3; }
    cp -r runs/devdata/more/. "$DATA/"
    python3 bench/train_parallel.py --plan tissue --data "$DATA" --out "$OUT" \
        --root /tmp/tissue-runs --steps "${STEPS:-2000}" --seconds "${BUDGET_S:-540}" \
        --device cuda 2>&1 | tee "$OUT/console.log"
    ;;
*)
    echo "usage: bash bench/gpu_tissue.sh stage|train" >&2
    exit 2
    ;;
esac
