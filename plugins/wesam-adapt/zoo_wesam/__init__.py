"""sam-zoo plugin ``wesam-adapt``: WeSAM weakly supervised self-training of SAM 2.1.

Registration lives in :mod:`zoo_wesam.plugin` (cheap); the model in
:mod:`zoo_wesam.model`, the method in :mod:`zoo_wesam.train`, :mod:`zoo_wesam.losses` and
:mod:`zoo_wesam.lora`.
"""

__version__ = "0.2.0"
