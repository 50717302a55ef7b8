"""Suite-wide settings: every compiled object in the tests verifies its generated code.

``SYMGRAD_VERIFY=1`` makes each :class:`symgrad.Compiled` run its kernel at random
points against the reference interpreter before first use (``verify=True``), so a
printer or template bug fails whichever test happens to generate the bad code.
"""

import os

os.environ.setdefault("SYMGRAD_VERIFY", "1")
