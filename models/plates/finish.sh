#!/bin/sh
# Convert build/plates/det.keras and ocr.keras to int8 LiteRT in models/plates/, measure
# them on the held-out sets (OCR seed 2, scenes seed 4, made again here every time, so the
# numbers are the current renderer's, about a minute; 200 pole-camera frames, seed 5, made
# as they are measured) and rewrite their manifest entries.
# The last step of train.sh, continue.sh and gpu.sh.
# ONLY=detector or ONLY=ocr converts and publishes that model alone and keeps the other.
# TensorFlow (.venv-train) converts; the agent's runtime (.venv, with OpenCV) measures.
set -eu
PY=.venv-train/bin/python
AGENT=.venv/bin/python
OUT=build/plates
gen() { $PY -m models.plates.dataset "$@"; }
gen ocr --count 5000 --seed 2 --out $OUT/ocr_val.npz
gen scenes --count 2000 --seed 4 --out $OUT/scenes_val.npz
ONLY=${ONLY:-}
if [ "$ONLY" != ocr ]; then
    $PY -m models.plates.convert --model $OUT/det.keras --data $OUT/scenes_val.npz \
        --out models/plates/plate_detector.tflite
fi
if [ "$ONLY" != detector ]; then
    $PY -m models.plates.convert --model $OUT/ocr.keras --data $OUT/ocr_val.npz \
        --out models/plates/plate_ocr.tflite
fi
$AGENT -m models.plates.evaluate --ocr-data $OUT/ocr_val.npz --scenes $OUT/scenes_val.npz \
    --scales 1.66,0.5 --wide 200 > $OUT/metrics.json
$AGENT -m models.plates.publish --metrics $OUT/metrics.json \
    --version "${VERSION:-plates-$(date -u +%Y.%m.%d-%H%M)}" ${ONLY:+--only "$ONLY"}
