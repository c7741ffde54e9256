#!/bin/sh
# Continue training both plate models on a GPU machine with Keras on JAX, in three steps:
#
#   sh models/plates/gpu.sh prepare          here, with .venv-train: the committed int8 models
#                                            recovered as Keras models, the Thai fonts and the
#                                            Keras wheels, all under build/gpu (about 12 MB)
#   sh models/plates/gpu.sh train OUT        there, from the repository root with build/gpu
#                                            copied beside it: data on every core, then both
#                                            trainings side by side on the GPU; the models
#                                            and logs go to OUT, saved after every epoch
#   sh models/plates/gpu.sh finish OUT       here again: convert, evaluate, publish
#
# The GPU machine needs Python 3.12 with JAX (CUDA), numpy, Pillow, scikit-image, h5py,
# rich, ml-dtypes and absl-py; Keras, namex and optree come as wheels from `prepare`. It
# needs no network. `train` keeps to a wall-clock budget, TOTAL_SECONDS (default 540): data
# first (OCR_COUNT crops, default 200,000, and SCENE_COUNT scenes, default 30,000), then
# the rest of the budget for training, less a minute's margin.
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
    mkdir -p "$OUT" /tmp/plates
    export KERAS_BACKEND=jax PLATE_FONT_ROOT=$G/fonts
    if ! python3 -c "import keras" 2>/dev/null; then
        python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site \
            $G/wheels/*.whl
    fi
    export PYTHONPATH=/tmp/site:.
    export XLA_PYTHON_CLIENT_PREALLOCATE=false  # two trainings share the GPU
    python3 -c "import jax; print('jax', jax.__version__, jax.devices())" | tee "$OUT/gpu.log"
    workers=$(nproc)
    gen() { python3 -m models.plates.dataset "$@" --workers "$workers"; }
    {
        gen ocr --count 2000 --seed 21 --out /tmp/plates/ocr_check.npz
        gen scenes --count "${SCENE_COUNT:-30000}" --seed 22 --out /tmp/plates/scenes.npz
        gen ocr --count "${OCR_COUNT:-200000}" --seed 20 --out /tmp/plates/ocr.npz
    } 2>&1 | tee -a "$OUT/gpu.log"
    minutes=$(((END - $(date +%s) - 60) / 60))
    [ "$minutes" -ge 1 ] || { echo "no time left to train" | tee -a "$OUT/gpu.log"; exit 1; }
    echo "training for $minutes minutes" | tee -a "$OUT/gpu.log"
    python3 -m models.plates.train_detector --data /tmp/plates/scenes.npz \
        --init $G/init/det.keras --out "$OUT/det.keras" --epochs 200 --batch 64 --loaders 4 \
        --minutes "$minutes" --lr 5e-4 --seed 29 > "$OUT/det.log" 2>&1 &
    DET=$!
    python3 -m models.plates.train_ocr --data /tmp/plates/ocr.npz \
        --val /tmp/plates/ocr_check.npz --init $G/init/ocr.keras --out "$OUT/ocr.keras" \
        --epochs 200 --batch 128 --loaders 4 --minutes "$minutes" --lr 5e-4 --seed 31 \
        > "$OUT/ocr.log" 2>&1
    wait $DET
    tail -n 3 "$OUT/det.log" "$OUT/ocr.log"
    ;;
finish)
    OUT=${2:?usage: gpu.sh finish OUT}
    mkdir -p build/plates
    cp "$OUT/det.keras" "$OUT/ocr.keras" build/plates/
    sh models/plates/finish.sh
    ;;
*)
    echo "gpu.sh: unknown step '$step' (prepare, train or finish)" >&2
    exit 2
    ;;
esac
