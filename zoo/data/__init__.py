"""Dataset reading shared by every family: one COCO reader and its dialect adapters.

:mod:`zoo.data.coco` parses and checks COCO JSON once for everyone; :mod:`zoo.data.adapters`
says where plain COCO, amodal (COCOA-cls, D2SA, KINS) and SOBA files keep masks, boxes and
visible parts. Masks are decoded by :func:`zoo.io.masks.decode_segmentation` only.
Generators of method-specific training data live in their plugins (``zoo_sameo.occlusion``,
``zoo_opseg.synthetic``, ``zoo_wesam.corruptions``): the core never imports a plugin.
"""
