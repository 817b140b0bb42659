"""Every registered loss is covered: a sample in ``tests/cases.py``, an independent reference,
and only known promises in its declared exceptions. A loss registered without them fails here."""

from __future__ import annotations

from cases import FACTORIES
from harness import NAMES, spec
from losskit import _registry
from references import REFERENCES


def test_every_loss_has_a_sample():
    missing = sorted(set(NAMES) - set(FACTORIES))
    assert not missing, f"add a sample for these losses to tests/cases.py: {missing}"


def test_every_loss_has_an_independent_reference():
    missing = sorted(set(NAMES) - set(REFERENCES))
    assert not missing, f"add a float64 reference to tests/contract/reference_*.py: {missing}"


def test_declared_exceptions_name_known_promises_with_a_reason():
    for name in NAMES:
        for promise, reason in spec(name).info.contract_exceptions.items():
            assert promise in _registry.PROMISES, (name, promise)
            assert isinstance(reason, str) and len(reason) > 20, (name, promise)
