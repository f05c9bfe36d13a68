"""OpSeg for sam-zoo: SAM 2.1 adapted to segment objects *and their shadows* from prompts.

* :class:`zoo_opseg.model.OpSegModel` - ``segment_shadows(image, instances)`` (task
  ``shadow``) and ``segment(image, prompts)`` (task ``promptable``); the architecture and
  checkpoint loading come from the ``sam2`` plugin.
* :mod:`zoo_opseg.soba` - the SOBA annotation reader; :mod:`zoo_opseg.metrics` - mIoU,
  mDice, area-weighted IoU/Dice and SOAP; :mod:`zoo_opseg.evaluate` - the evaluation loop;
  :mod:`zoo_opseg.train` - the two fine-tuning recipes (frozen image encoder, full).
"""
