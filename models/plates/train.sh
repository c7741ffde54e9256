#!/bin/sh
# Regenerate the plate data and retrain, convert, evaluate and publish both plate models.
# Run by `make train-plates` from the repository root, inside .venv-train, already niced.
# Budget on the 2-core development machine: data ~17 min, training 85 min (both models
# side by side, one thread each), conversion and evaluation ~5 min.
set -eu
PY=.venv-train/bin/python
OUT=build/plates
mkdir -p "$OUT/logs"
gen() { $PY -m models.plates.dataset "$@" --workers 2; }
gen ocr --count 5000 --seed 2 --out $OUT/ocr_val.npz
gen scenes --count 2000 --seed 4 --out $OUT/scenes_val.npz
gen scenes --count 20000 --seed 3 --out $OUT/scenes_train.npz
gen ocr --count 120000 --seed 1 --out $OUT/ocr_train.npz
$PY -m models.plates.train_detector --data $OUT/scenes_train.npz --out $OUT/det.keras \
    --epochs 20 --minutes ${DET_MINUTES:-85} --seed 1 > $OUT/logs/det.log 2>&1 &
DET=$!
$PY -m models.plates.train_ocr --data $OUT/ocr_train.npz --val $OUT/ocr_val.npz --out $OUT/ocr.keras \
    --epochs 10 --minutes ${OCR_MINUTES:-85} --seed 1 > $OUT/logs/ocr.log 2>&1
wait $DET
tail -n 3 $OUT/logs/det.log $OUT/logs/ocr.log
sh models/plates/finish.sh
