"""What the machine wants to buy and from whom: the inputs of a negotiation.

Validated on construction, so a planner bug (a negative price, a duplicate GTIN,
a malformed address) fails before any supplier is contacted.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Self

from eth_utils import is_address, to_checksum_address
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PositiveInt, model_validator

UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1


@lru_cache(maxsize=256)
def _checksum(value: str) -> str:
    # Remembered: a keccak per address costs ~0.4 ms, and a machine's needs name the
    # same profit center and token every time.
    if not is_address(value):
        raise ValueError(f"{value!r} is not an Ethereum address")
    return str(to_checksum_address(value))


Address = Annotated[str, AfterValidator(_checksum)]
Gtin = Annotated[str, Field(pattern=r"^\d{8,14}$")]
UnixTime = Annotated[int, Field(ge=0, le=UINT64_MAX, description="unix seconds")]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NeedItem(_Frozen):
    """One line of a need: this many units of this GTIN."""

    gtin: Gtin
    quantity: Annotated[int, Field(ge=1, le=UINT32_MAX)]


class Need(_Frozen):
    """A restocking need as the planner hands it to the buyer.

    ``reservation`` is the most the machine will pay for all items together
    (token base units); ``urgency`` in 0..1 sets how fast the buyer concedes;
    ``token_decimals`` only formats amounts for people (the transcript summary).
    """

    items: Annotated[list[NeedItem], Field(min_length=1, max_length=64)]
    deliver_by: UnixTime
    reservation: PositiveInt
    urgency: Annotated[float, Field(ge=0.0, le=1.0)]
    chain_id: PositiveInt
    profit_center: Address
    token: Address
    token_decimals: Annotated[int, Field(ge=0, le=36)] = 6

    @model_validator(mode="after")
    def _unique_gtins(self) -> Self:
        seen = [int(item.gtin) for item in self.items]
        if len(set(seen)) != len(seen):
            raise ValueError("items: the same GTIN appears twice")
        return self

    def wanted(self) -> list[tuple[int, int]]:
        """(GTIN as an integer, quantity) sorted: the form item lines are compared in."""
        return sorted((int(item.gtin), item.quantity) for item in self.items)


class SupplierRef(_Frozen):
    """An eligible supplier: where it answers, which key signs its quotes, how it delivered."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    base_url: Annotated[str, Field(pattern=r"^https?://", max_length=512)]
    signing_address: Address
    reliability: Annotated[float, Field(ge=0.0, le=1.0)] = 0.9
