"""Errors of the chain layer, under ``CustobotError``.

A revert looks different on every backend (eth-tester raises its own
``TransactionFailed`` with the revert data in the message; a JSON-RPC node such as
anvil answers with an error object that web3 turns into ``ContractCustomError``);
the chain layer turns all of them into one ``ContractRevertError`` that carries the
custom error's name and decoded arguments.
"""

from __future__ import annotations

from typing import Any

from device.errors import CustobotError


class ChainError(CustobotError):
    """Something went wrong talking to the chain."""


class ContractRevertError(ChainError):
    """A call or transaction reverted.

    ``name`` is the Solidity error name (``"NotAgent"``, ``"BudgetExceeded"``, or
    ``"Error"`` for ``require`` strings and ``"Panic"`` for panics; ``"Unknown"`` when
    the data matches no error of the contract), ``error_args`` its decoded arguments in
    declaration order and ``data`` the raw revert data.
    """

    def __init__(self, name: str, args: tuple[Any, ...], data: bytes) -> None:
        shown = ", ".join(_show(arg) for arg in args)
        super().__init__(f"reverted with {name}({shown})")
        self.name = name
        self.error_args = args  # ``args`` itself belongs to BaseException
        self.data = data


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return repr(value)
