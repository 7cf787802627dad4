"""Everything frontdesk says to a vendor goes through this package.

Public surface: the request models and clients of each vendor module
(:mod:`vendors.clubready`, :mod:`vendors.registrar`, :mod:`vendors.paytronix`),
the one :class:`Outcome` every call returns, the exception hierarchy and
:class:`RetryPolicy`. This package knows HTTP and the vendors' contracts only.
"""

from vendors._adapters import (
    IDENTIFIER_FIELDS,
    ContractSaleEndpoint,
    GuestPasswordEndpoint,
    MemberIdentity,
    NewMemberSale,
    PaymentInstruction,
    ResetAdapter,
)
from vendors._errors import InvalidVendorRequest, VendorConfigurationError, VendorError, build
from vendors._outcome import Exchange, FieldError, Outcome, OutcomeKind
from vendors._redact import REDACTED, Redactor
from vendors._transport import DEFAULT_TIMEOUT, RetryPolicy

__all__ = [
    "IDENTIFIER_FIELDS",
    "ContractSaleEndpoint",
    "GuestPasswordEndpoint",
    "MemberIdentity",
    "NewMemberSale",
    "PaymentInstruction",
    "ResetAdapter",
    "DEFAULT_TIMEOUT",
    "REDACTED",
    "Exchange",
    "FieldError",
    "InvalidVendorRequest",
    "Outcome",
    "OutcomeKind",
    "Redactor",
    "RetryPolicy",
    "VendorConfigurationError",
    "VendorError",
    "build",
]
