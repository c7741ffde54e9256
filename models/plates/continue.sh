#!/bin/sh
# Continue training the committed plate models from their int8 files, then convert,
# evaluate and publish them. Run by `make continue-plates` from the repository root, inside
# .venv-train, already niced. One thread per training, side by side: on the 2-core
# development machine (AVX-512 VNNI) the recovered OCR trains ~185 crops a second and the
# detector ~86 scenes a second on one thread each. Data ~16 min before training (the
# second OCR set, ~18 min, is generated beside the OCR's first stages), OCR 10 + 20 + 85
# min, the detector ~62 min beside the OCR, conversion and evaluation ~3 min: about 2 h
# 15 min. ONLY=ocr or ONLY=detector ships one model and keeps the committed other (finish.sh).
# The runs that made the committed models are in models/README.md.
set -eu
PY=.venv-train/bin/python
OUT=build/plates
mkdir -p "$OUT/logs"
gen() { $PY -m models.plates.dataset "$@"; }
[ -f $OUT/ocr_val.npz ] || gen ocr --count 5000 --seed 2 --out $OUT/ocr_val.npz
[ -f $OUT/scenes_val.npz ] || gen scenes --count 2000 --seed 4 --out $OUT/scenes_val.npz
gen scenes --count 16000 --seed 14 --tiles 0.35 --out $OUT/scenes_more.npz
gen ocr --count 100000 --seed 12 --out $OUT/ocr_more1.npz
# Beside the OCR's first two stages, on the other core: the second OCR set (the data do not
# depend on the number of workers), then the detector, which stops after its 20 epochs.
rm -f $OUT/ocr_more2.done
(
    gen ocr --count 100000 --seed 13 --workers 1 --out $OUT/ocr_more2.npz
    touch $OUT/ocr_more2.done
    $PY -m models.plates.recover detector --tflite models/plates/plate_detector.tflite \
        --out $OUT/det_init.keras --check $OUT/scenes_val.npz
    $PY -m models.plates.train_detector --data $OUT/scenes_more.npz \
        --init $OUT/det_init.keras --out $OUT/det.keras --epochs 20 --minutes 87 --lr 5e-4 \
        --seed 19 --threads 1
) > $OUT/logs/side.log 2>&1 &
SIDE=$!
$PY -m models.plates.recover ocr --tflite models/plates/plate_ocr.tflite \
    --out $OUT/ocr_init.keras --check $OUT/ocr_val.npz
ocr() { $PY -m models.plates.train_ocr --val $OUT/ocr_val.npz --threads 1 "$@"; }
# The OCR in three stages, a cosine learning rate in each: one epoch of the first set, two
# more at a higher rate, then both sets together.
ocr --data $OUT/ocr_more1.npz --init $OUT/ocr_init.keras --out $OUT/ocr_stage1.keras \
    --epochs 1 --minutes 10 --lr 4e-4 --seed 7 > $OUT/logs/ocr_stage1.log 2>&1
ocr --data $OUT/ocr_more1.npz --init $OUT/ocr_stage1.keras --out $OUT/ocr_stage2.keras \
    --epochs 2 --minutes 20 --lr 6e-4 --seed 17 > $OUT/logs/ocr_stage2.log 2>&1
while [ ! -f $OUT/ocr_more2.done ]; do
    kill -0 $SIDE 2>/dev/null || { echo "the second OCR set failed: $OUT/logs/side.log" >&2; exit 1; }
    sleep 10
done
ocr --data $OUT/ocr_more1.npz $OUT/ocr_more2.npz --init $OUT/ocr_stage2.keras \
    --out $OUT/ocr.keras --epochs 20 --minutes 85 --lr 5e-4 --seed 23 > $OUT/logs/ocr.log 2>&1
wait $SIDE
tail -n 3 $OUT/logs/side.log $OUT/logs/ocr_stage1.log $OUT/logs/ocr_stage2.log $OUT/logs/ocr.log
sh models/plates/finish.sh
