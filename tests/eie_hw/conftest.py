"""Shared fixtures for the hardware unit tests."""

import pytest
from amaranth.hdl import Const, Value


@pytest.fixture
def signal_ports():
    """The non-constant ports of a component, for `verilog.convert(..., ports=...)`.

    `verilog.convert(component)` trips on the constant `ready` of an always-ready stream
    (amaranth-lang/amaranth#1574), so the tests pass the signal ports explicitly.
    """
    def ports(component):
        values = (Value.cast(v) for _, _, v in component.signature.flatten(component))
        return [v for v in values if not isinstance(v, Const)]
    return ports
