#!/bin/sh
# Continue training the committed plate models from their int8 files, then convert,
# evaluate and publish them. Run by `make continue-plates` from the repository root, inside
# .venv-train, already niced. On the 2-core development machine (AVX-512 VNNI): data
# ~27 min, OCR ~57 + 33 min (the detector's ~21 min beside the first part), conversion and
# evaluation ~3 min. The run that made the committed models is in models/README.md.
set -eu
PY=.venv-train/bin/python
OUT=build/plates
mkdir -p "$OUT/logs"
gen() { $PY -m models.plates.dataset "$@" --workers 2; }
[ -f $OUT/ocr_val.npz ] || gen ocr --count 5000 --seed 2 --out $OUT/ocr_val.npz
[ -f $OUT/scenes_val.npz ] || gen scenes --count 2000 --seed 4 --out $OUT/scenes_val.npz
gen ocr --count 80000 --seed 5 --out $OUT/ocr_more1.npz
gen ocr --count 80000 --seed 6 --out $OUT/ocr_more2.npz
gen scenes --count 20000 --seed 8 --out $OUT/scenes_more.npz
$PY -m models.plates.recover ocr --tflite models/plates/plate_ocr.tflite \
    --out $OUT/ocr_init.keras --check $OUT/ocr_val.npz
$PY -m models.plates.recover detector --tflite models/plates/plate_detector.tflite \
    --out $OUT/det_init.keras --check $OUT/scenes_val.npz
$PY -m models.plates.train_detector --data $OUT/scenes_more.npz --init $OUT/det_init.keras \
    --out $OUT/det.keras --epochs 4 --minutes 50 --lr 5e-4 --seed 9 > $OUT/logs/det.log 2>&1 &
DET=$!
# The OCR in two stages: the first 80,000 crops for 8 epochs, then both sets together.
$PY -m models.plates.train_ocr --data $OUT/ocr_more1.npz --val $OUT/ocr_val.npz \
    --init $OUT/ocr_init.keras --out $OUT/ocr_stage1.keras --epochs 8 --minutes 95 --lr 8e-4 \
    --seed 7 --threads 2 > $OUT/logs/ocr_stage1.log 2>&1
wait $DET
$PY -m models.plates.train_ocr --data $OUT/ocr_more1.npz $OUT/ocr_more2.npz \
    --val $OUT/ocr_val.npz --init $OUT/ocr_stage1.keras --out $OUT/ocr.keras --epochs 4 \
    --minutes 33 --lr 4e-4 --seed 11 --threads 2 > $OUT/logs/ocr.log 2>&1
tail -n 3 $OUT/logs/det.log $OUT/logs/ocr_stage1.log $OUT/logs/ocr.log
$PY -m models.plates.convert --model $OUT/det.keras --data $OUT/scenes_val.npz \
    --out models/plates/plate_detector.tflite
$PY -m models.plates.convert --model $OUT/ocr.keras --data $OUT/ocr_val.npz \
    --out models/plates/plate_ocr.tflite
$PY -m models.plates.evaluate --ocr-data $OUT/ocr_val.npz --scenes $OUT/scenes_val.npz \
    --scales 1,0.5 > $OUT/metrics.json
$PY -m models.plates.publish --metrics $OUT/metrics.json --version "${VERSION:-plates-2026.11.2}"
