#!/bin/sh
# Convert build/plates/det.keras and ocr.keras to int8 LiteRT in models/plates/, measure
# them on the held-out sets (OCR seed 2, scenes seed 4, generated here when missing) and
# rewrite their manifest entries. The last step of train.sh, continue.sh and gpu.sh.
set -eu
PY=.venv-train/bin/python
OUT=build/plates
gen() { $PY -m models.plates.dataset "$@"; }
[ -f $OUT/ocr_val.npz ] || gen ocr --count 5000 --seed 2 --out $OUT/ocr_val.npz
[ -f $OUT/scenes_val.npz ] || gen scenes --count 2000 --seed 4 --out $OUT/scenes_val.npz
$PY -m models.plates.convert --model $OUT/det.keras --data $OUT/scenes_val.npz \
    --out models/plates/plate_detector.tflite
$PY -m models.plates.convert --model $OUT/ocr.keras --data $OUT/ocr_val.npz \
    --out models/plates/plate_ocr.tflite
$PY -m models.plates.evaluate --ocr-data $OUT/ocr_val.npz --scenes $OUT/scenes_val.npz \
    --scales 1,0.5 > $OUT/metrics.json
$PY -m models.plates.publish --metrics $OUT/metrics.json --version "${VERSION:-plates-$(date -u +%Y.%m.%d-%H%M)}"
