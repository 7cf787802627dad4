"""Everything frontdesk says to a vendor goes through this package.

Public surface: the typed seams (:class:`ResetAdapter`, :class:`ContractSaleEndpoint`,
:class:`GuestPasswordAdapter`) and the adapters of each vendor module
(:mod:`vendors.clubready`, :mod:`vendors.registrar`, :mod:`vendors.paytronix`),
the one :class:`Outcome` every call returns, the exception hierarchy,
:class:`VendorHttp` (every call under a total deadline) and :class:`RetryPolicy`.
This package knows HTTP and the vendors' contracts only.
"""

from vendors._adapters import (
    IDENTIFIER_FIELDS,
    ContractSaleEndpoint,
    GuestPasswordAdapter,
    LocationAdapters,
    MemberIdentity,
    NewMemberSale,
    PaymentInstruction,
    ResetAdapter,
)
from vendors._errors import InvalidVendorRequest, VendorConfigurationError, VendorError, build
from vendors._outcome import Exchange, FieldError, Outcome, OutcomeKind
from vendors._redact import REDACTED, Redactor
from vendors._transport import DEFAULT_DEADLINE, DEFAULT_TIMEOUT, RetryPolicy, VendorHttp
from vendors.paytronix import new_reset_code

__all__ = [
    "IDENTIFIER_FIELDS",
    "ContractSaleEndpoint",
    "GuestPasswordAdapter",
    "LocationAdapters",
    "MemberIdentity",
    "NewMemberSale",
    "PaymentInstruction",
    "ResetAdapter",
    "DEFAULT_DEADLINE",
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
    "VendorHttp",
    "build",
    "new_reset_code",
]
