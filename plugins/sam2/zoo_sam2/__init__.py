"""SAM 2.1 for sam-zoo: the reference plugin, and the base other plugins build on.

Other plugins reuse :func:`zoo_sam2.build.build_sam2_model` (architecture + strict,
pickle-free checkpoint loading) rather than copying it.
"""
