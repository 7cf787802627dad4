"""Every sandbox fault, through the whole app: each sale ends in a definite state with
exactly one request at ClubReady (never resent), and each reset with at most the one
retry the vendor docs allow; nothing is lost, nothing doubled."""

from __future__ import annotations

import time

import pytest

from bot.devtools import sale_steps
from bot.devtools.stack import Stack
from bot.workflows.resets import ResetStatus
from bot.workflows.sales import SaleStatus
from tests.slack.helpers import reset
from vendors.sandbox import Fault

SALE_FAULTS = [
    (Fault("latency", operation="contract_sale", seconds=0.5), SaleStatus.SOLD),
    (Fault("status", operation="contract_sale", status=500), SaleStatus.UNKNOWN),
    (Fault("status", operation="contract_sale", status=502), SaleStatus.UNKNOWN),
    (Fault("status", operation="contract_sale", status=503), SaleStatus.UNKNOWN),
    (Fault("status", operation="contract_sale", status=504), SaleStatus.UNKNOWN),
    (Fault("status", operation="contract_sale", status=429, retry_after=1), SaleStatus.REFUSED),
    (Fault("read_timeout", operation="contract_sale", seconds=3), SaleStatus.UNKNOWN),
    (Fault("drop_after", operation="contract_sale"), SaleStatus.UNKNOWN),
    (Fault("drop_before", operation="contract_sale"), SaleStatus.UNKNOWN),
    (Fault("success_false", operation="contract_sale", message="Card expired"), SaleStatus.REFUSED),
]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_fault_on_a_sale(stack: Stack) -> None:
    for n, (fault, expected) in enumerate(SALE_FAULTS):
        stack.sandbox.clear_faults()
        stack.sandbox.clear_received()
        stack.sandbox.inject(fault)
        member = {**sale_steps.MEMBER, "email": f"buyer{n}@example.com"}
        sale_id = sale_steps.request_approval(stack, member=member)
        view = sale_steps.open_review(stack, "UMANAGER", sale_id)
        assert sale_steps.approve(stack, "UMANAGER", view).text == ""
        finished = sale_steps.wait_finished(stack, sale_id)
        assert finished.status == expected, (fault, finished.outcome_message)
        assert finished.sealed_tokens is None
        time.sleep(0.2 if fault.kind != "read_timeout" else 3.2)
        sent = stack.sandbox.received("clubready", "contract_sale")
        assert len(sent) == 1, fault  # never resent, whatever happened
        assert sent[0].json["ExternalId"] == sale_id


RESET_FAULTS = [
    (Fault("status", vendor="registrar", status=503, retry_after=0), ResetStatus.SENT, 2),
    (Fault("status", vendor="registrar", status=500), ResetStatus.UNKNOWN, 1),
    (Fault("status", vendor="registrar", status=429, retry_after=0), ResetStatus.SENT, 2),
    (Fault("read_timeout", vendor="registrar", seconds=3), ResetStatus.UNKNOWN, 1),
    (Fault("drop_after", vendor="registrar"), ResetStatus.UNKNOWN, 1),
    (Fault("drop_before", vendor="registrar"), ResetStatus.UNKNOWN, 1),
    (Fault("latency", vendor="registrar", seconds=0.5), ResetStatus.SENT, 1),
    (Fault("status", vendor="registrar", status=503, times=2), ResetStatus.FAILED, 2),
]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_fault_on_a_reset(stack: Stack) -> None:
    for fault, expected, calls in RESET_FAULTS:
        stack.sandbox.clear_faults()
        stack.sandbox.clear_received()
        stack.sandbox.inject(fault)
        stack.frontdesk.services.resets.limit_per_hour = 100
        request_id = reset(stack, "jane@example.com sparkle")
        request = stack.frontdesk.services.resets.get(request_id)
        assert request.status == expected, (fault, request.outcome_message)
        time.sleep(0.2 if fault.kind != "read_timeout" else 3.2)
        assert len(stack.sandbox.received("registrar")) == calls, fault
