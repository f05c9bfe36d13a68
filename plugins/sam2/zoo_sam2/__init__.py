"""SAM 2.1 for sam-zoo: the reference plugin, and the base other plugins build on.

Other plugins reuse :func:`zoo_sam2.build.build_sam2_model` (architecture + strict,
pickle-free checkpoint loading) rather than copying it.
"""

import warnings as _warnings

# The sam2 package scripts its image transforms with torch.jit.script, which torch now
# deprecates with a FutureWarning on every model build; it is not the user's to act on.
_warnings.filterwarnings("ignore", r".*torch\.jit\.script.*deprecated", FutureWarning)
