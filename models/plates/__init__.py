"""Training-side code for the Thai plate models: generator, training, conversion, evaluation.

Only Pillow and numpy are needed to generate plates; TensorFlow is imported by
the training and conversion scripts alone and lives in ``.venv-train``.
"""
