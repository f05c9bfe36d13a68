"""SAM 3 for sam-zoo: concept segmentation (text and exemplar prompts) on images and
videos, and SAM-style promptable segmentation, through transformers' SAM 3 models.

Registration (:mod:`zoo_sam3.plugin`) imports nothing heavy; the model lives in
:mod:`zoo_sam3.model`, checkpoint layouts in :mod:`zoo_sam3.convert`.
"""
