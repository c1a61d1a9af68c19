"""Import every feature's models so the metadata is whole (migrations, create_all)."""

from portal.accounts import models as account_models  # noqa: F401
from portal.banking import models as banking_models  # noqa: F401
from portal.companies import models as company_models  # noqa: F401
from portal.compliance import models as compliance_models  # noqa: F401
from portal.core import models as core_models  # noqa: F401
from portal.core import ratelimit  # noqa: F401
from portal.invoicing import models as invoicing_models  # noqa: F401
from portal.notifications import models as notification_models  # noqa: F401
from portal.onboarding import models as onboarding_models  # noqa: F401
from portal.operations import models as operations_models  # noqa: F401
from portal.payees import models as payee_models  # noqa: F401
from portal.payment_settings import models as payment_settings_models  # noqa: F401
from portal.readiness import models as readiness_models  # noqa: F401
from portal.sso import models as sso_models  # noqa: F401
from portal.waivers import models as waiver_models  # noqa: F401
