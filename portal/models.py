"""Import every feature's models so the metadata is whole (migrations, create_all)."""

from portal.core import models as core_models  # noqa: F401
from portal.notifications import models as notification_models  # noqa: F401
