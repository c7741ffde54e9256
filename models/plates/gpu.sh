#!/bin/sh
# Train the plate models on a GPU machine with Keras on JAX, in three steps:
#
#   sh models/plates/gpu.sh prepare          here, with .venv-train: the committed int8 models
#                                            recovered as Keras models, the Thai fonts and the
#                                            Keras wheels, all under build/gpu (about 12 MB)
#   sh models/plates/gpu.sh train OUT        there, from the repository root with build/gpu
#                                            copied beside it: data made on every core for
#                                            the whole call and four trainings side by side
#                                            on the GPU (det, det_cont, ocr_inv, ocr_cont),
#                                            each saved to OUT/NAME.keras after every epoch
#                                            and logged to OUT/gpu.log
#   sh models/plates/gpu.sh finish OUT       here again: convert, evaluate and publish the
#                                            chosen pair, OCR=NAME (default ocr_inv) and
#                                            DET=NAME (default det); ONLY=ocr|detector ships
#                                            one and keeps the committed other
#
# The GPU machine needs Python 3.12 with JAX (CUDA), numpy, Pillow, scikit-image, h5py,
# rich, ml-dtypes and absl-py; Keras, namex and optree come as wheels from `prepare`. It
# needs no network. `train` keeps to a wall-clock budget, TOTAL_SECONDS (default 540), and
# stops everything a minute before it ends. It starts on SCENE_START scenes (10,000) while
# makers write SCENE_COUNT more (100,000) and OCR_COUNT crops (1,000,000) in parts of
# SCENE_PART (2,500) and OCR_PART (10,000) for as long as the call lasts; the trainings
# take each part in between epochs. A share SCENE_TILES (0.35) of the scenes are tiles of a
# pole camera's frame (scenes.tile_scene). The detector from scratch, det, has DET_WIDTH
# (2) times the committed one's channels (train_detector.build_model): the committed width
# has stopped gaining recall on the CPU, and twice the width still runs well inside the
# time budget. DET_CONT_WIDTH widens det_cont's committed model first (train_detector
# --width with --init: it starts computing what the committed model computes). OCR_STEM
# (full) is the stem of the OCR from scratch, ocr_inv: strided is a fifth cheaper to run
# (train_ocr.STEMS, models/README.md). The first run on an H200 with 16 cores, on fixed
# sets, was bound by its data (models/README.md).
set -eu
G=build/gpu
step=${1:?usage: gpu.sh prepare | train OUT | finish OUT}

case $step in
prepare)
    PY=.venv-train/bin/python
    rm -rf $G
    mkdir -p $G/wheels $G/init
    $PY -c "import pathlib; from models.plates import fonts; fonts.copy_faces(pathlib.Path('$G/fonts'))"
    keras=$($PY -c "import keras; print(keras.__version__)")
    $PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d $G/wheels "keras==$keras" namex optree
    $PY -m models.plates.recover ocr --tflite models/plates/plate_ocr.tflite \
        --out $G/init/ocr.keras
    $PY -m models.plates.recover detector --tflite models/plates/plate_detector.tflite \
        --out $G/init/det.keras
    du -sh $G
    ;;
train)
    OUT=${2:?usage: gpu.sh train OUT}
    END=$(($(date +%s) + ${TOTAL_SECONDS:-540}))
    D=/tmp/plates
    rm -rf $D
    mkdir -p "$OUT" $D
    export KERAS_BACKEND=jax PLATE_FONT_ROOT=$G/fonts PYTHONUNBUFFERED=1
    if ! python3 -c "import keras" 2>/dev/null; then
        python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site \
            $G/wheels/*.whl
    fi
    export PYTHONPATH=/tmp/site:.
    export XLA_PYTHON_CLIENT_PREALLOCATE=false  # the trainings share the GPU
    LOG=$OUT/gpu.log
    python3 -c "import jax; print('jax', jax.__version__, jax.devices())" 2>&1 | tee "$LOG"
    cores=$(nproc)
    left() { echo $((END - $(date +%s) - 60)); }  # seconds to train, a minute's margin
    minutes() { python3 -c "print(max(0.5, $(left) / 60))"; }
    gen() { python3 -m models.plates.dataset "$@" 2>&1 | tee -a "$LOG"; }
    # A maker writes parts in the background until the trainings stop (dataset --parts).
    maker() { python3 -m models.plates.dataset "$@" --minutes "$(minutes)" >> "$LOG" 2>&1 & }
    # Each training saves to OUT/NAME.keras every epoch and logs to LOG under its name.
    TRAININGS=
    job() {
        name=$1
        shift
        echo "$name: $(minutes) minutes" >> "$LOG"
        python3 -m "$@" --out "$OUT/$name.keras" --epochs 1000 --minutes "$(minutes)" 2>&1 |
            sed -u "s/^/[$name] /" >> "$LOG" &
        TRAININGS="$TRAININGS $!"
    }
    gen ocr --count 2000 --seed 21 --out $D/ocr_check.npz --workers "$cores"
    # A few steps on the GPU while the first scenes are made: if Keras cannot train on
    # this JAX, the trainings run on PyTorch instead.
    python3 -m models.plates.train_ocr --data $D/ocr_check.npz --out $D/smoke.keras \
        --epochs 1 --batch 256 --minutes 2 > $D/smoke.log 2>&1 &
    SMOKE=$!
    tiles=${SCENE_TILES:-0.35}
    gen scenes --count "${SCENE_START:-10000}" --seed 22 --tiles "$tiles" --out $D/scenes.npz \
        --workers "$cores"
    if ! wait $SMOKE; then
        tail -n 5 $D/smoke.log | tee -a "$LOG"
        export KERAS_BACKEND=torch
    fi
    echo "backend $KERAS_BACKEND" | tee -a "$LOG"
    # Fresh data for the whole call, a quarter of the cores for scenes and the rest for OCR
    # crops: between epochs every training swaps its oldest samples for the newest parts,
    # so that it sees each sample a few times rather than dozens.
    scene_count=${SCENE_COUNT:-100000}
    ocr_count=${OCR_COUNT:-1000000}
    maker scenes --count "$scene_count" --parts $((scene_count / ${SCENE_PART:-2500})) \
        --seed 23 --tiles "$tiles" --out $D/scenes_more.npz \
        --workers $((cores > 3 ? cores / 4 : 1))
    maker ocr --count "$ocr_count" --parts $((ocr_count / ${OCR_PART:-10000})) --seed 20 \
        --out $D/ocr.npz --workers $((cores > 3 ? cores - cores / 4 : 1))
    det="models.plates.train_detector --data $D/scenes.npz --batch 64 --loaders 2"
    job det $det --more "$D/scenes_more-*.npz" --lr 2e-3 --seed 29 --width "${DET_WIDTH:-2}"
    job det_cont $det --more "$D/scenes_more-*.npz" --init $G/init/det.keras --lr 5e-4 \
        --seed 30 ${DET_CONT_WIDTH:+--width "$DET_CONT_WIDTH"}
    # The OCR trainings start once 8 parts (80,000 crops) are made, a share of each batch
    # inverted: one from scratch (batch normalisation live, which a model recovered from
    # int8 cannot have), one from the committed model.
    while [ ! -f $D/ocr-007.npz ]; do
        [ "$(left)" -gt 60 ] || { echo "too few OCR crops in time" | tee -a "$LOG"; break; }
        sleep 2
    done
    if [ -f $D/ocr-007.npz ]; then
        ocr="models.plates.train_ocr --val $D/ocr_check.npz --batch 256 --loaders 3"
        ocr="$ocr --invert 0.3 --data $(echo $D/ocr-00[0-7].npz)"
        job ocr_inv $ocr --more "$D/ocr-*.npz" --lr 2e-3 --seed 32 --stem "${OCR_STEM:-full}"
        job ocr_cont $ocr --more "$D/ocr-*.npz" --init $G/init/ocr.keras --lr 5e-4 --seed 33
    fi
    # shellcheck disable=SC2086 # one PID each
    wait $TRAININGS
    tail -n 40 "$LOG"
    ;;
finish)
    OUT=${2:?usage: gpu.sh finish OUT}
    mkdir -p build/plates
    cp "$OUT/${DET:-det}.keras" build/plates/det.keras
    cp "$OUT/${OCR:-ocr_inv}.keras" build/plates/ocr.keras
    sh models/plates/finish.sh
    ;;
*)
    echo "gpu.sh: unknown step '$step' (prepare, train or finish)" >&2
    exit 2
    ;;
esac
