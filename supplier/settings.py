"""The reference supplier's configuration: one TOML file plus ``CUSTOBOT_SUPPLIER_*`` env.

Environment variables override the file (``CUSTOBOT_SUPPLIER_PORT=9000``,
``CUSTOBOT_SUPPLIER_CHAIN__RPC_URL=http://...``). Relative paths in the file
(keystore, database, passphrase file) are relative to the file's folder. The
keystore passphrase is never part of the configuration: it comes from
``passphrase_file`` or the ``CUSTOBOT_SUPPLIER_KEYSTORE_PASSPHRASE`` variable
(see :mod:`supplier.keys`).
"""

from __future__ import annotations

import contextvars
from collections import Counter
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    ValidationError,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from device.errors import ConfigError
from supplier.protocol import (
    MAX_CATALOG_ITEMS,
    MAX_ROUNDS,
    AcceptedToken,
    Address,
    Gtin,
    Name,
    Quantity,
    gtin_key,
)

_config_file: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "custobot_supplier_config_file", default=None
)

MAX_UNIT_PRICE = 10**18
"""Per-unit price cap in base units: keeps every order total far inside ``uint256``."""
UnitPrice = Annotated[int, Field(ge=0, le=MAX_UNIT_PRICE, description="token base units")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VolumeDiscount(_Strict):
    """From ``min_quantity`` units of one item, the list price drops by ``discount_bp``/10000."""

    min_quantity: Quantity
    discount_bp: Annotated[int, Field(ge=1, le=9999)]


class CatalogEntry(_Strict):
    """One item the supplier sells; ``floor_price`` is private and never offered below."""

    gtin: Gtin
    name: Name
    unit: Annotated[str, Field(min_length=1, max_length=32)] = "each"
    list_price: UnitPrice
    floor_price: UnitPrice
    min_quantity: Quantity = 1
    lead_time_seconds: Annotated[int, Field(ge=0, le=365 * 86400)] = 86400
    stock: NonNegativeInt
    discounts: Annotated[list[VolumeDiscount], Field(max_length=8)] = []

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.floor_price > self.list_price:
            raise ValueError(
                f"floor_price ({self.floor_price}) is above list_price ({self.list_price})"
            )
        tiers = [d.min_quantity for d in self.discounts]
        if len(set(tiers)) != len(tiers):
            raise ValueError("discounts: two tiers have the same min_quantity")
        return self


class FixedStrategyConfig(_Strict):
    """List price (after volume discounts), take it or leave it."""

    kind: Literal["fixed"]


class BoulwareStrategyConfig(_Strict):
    """Holds near list price and concedes late: ``beta`` < 1."""

    kind: Literal["boulware"]
    beta: Annotated[float, Field(gt=0, lt=1)] = 0.2


class ConcederStrategyConfig(_Strict):
    """Concedes early towards the floor: ``beta`` > 1."""

    kind: Literal["conceder"]
    beta: Annotated[float, Field(gt=1, le=100)] = 4.0


class TitForTatStrategyConfig(_Strict):
    """Mirrors the buyer's concessions (scaled by ``mirror``)."""

    kind: Literal["tit_for_tat"]
    mirror: Annotated[float, Field(gt=0, le=4)] = 1.0
    opening_concession_bp: Annotated[int, Field(ge=0, le=10000)] = 200


StrategyConfig = Annotated[
    FixedStrategyConfig | BoulwareStrategyConfig | ConcederStrategyConfig | TitForTatStrategyConfig,
    Field(discriminator="kind"),
]


class WatchConfig(_Strict):
    """Where to watch for orders placed to this supplier."""

    rpc_url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    profit_centers: Annotated[list[Address], Field(max_length=256)] = []
    poll_seconds: PositiveFloat = 5.0
    from_block: NonNegativeInt = 0


class SupplierSettings(BaseSettings):
    """Everything a reference supplier needs to know about itself."""

    model_config = SettingsConfigDict(
        env_prefix="CUSTOBOT_SUPPLIER_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    name: Name
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8700
    keystore: Path
    passphrase_file: Path | None = None
    database: Path = Path("supplier.db")
    tokens: Annotated[list[AcceptedToken], Field(min_length=1, max_length=32)]
    items: Annotated[list[CatalogEntry], Field(min_length=1, max_length=MAX_CATALOG_ITEMS)]
    strategy: StrategyConfig = BoulwareStrategyConfig(kind="boulware")
    max_rounds: Annotated[int, Field(ge=1, le=MAX_ROUNDS)] = 8
    best_and_final: bool = False
    """Honour a buyer's price to beat (advertised in discovery): a final offer just below it
    when the floor allows, else the usual answer. Off unless the supplier opts in: the price
    to beat cannot be checked (a buyer could probe for the floor), and buyers older than the
    field refuse a discovery document that names it."""
    quote_ttl_seconds: Annotated[int, Field(ge=10, le=86400)] = 300
    session_ttl_seconds: Annotated[int, Field(ge=10, le=7 * 86400)] = 900
    rfq_per_minute: Annotated[int, Field(ge=1, le=100_000)] = 60
    """New RFQs one client address may open per minute, sustained ..."""
    rfq_burst: Annotated[int, Field(ge=1, le=100_000)] = 10
    """... and at once (signing a quote costs milliseconds of CPU: a burst must stay small)."""
    rfq_per_day: Annotated[int, Field(ge=1, le=10_000_000)] = 2000
    """... and per day: with the retention, what one address can make the database hold."""
    rfq_retention_days: Annotated[int, Field(ge=2, le=3650)] = 30
    """RFQs that never became an order (and their quotes, long expired) are deleted after this."""
    prune_every_seconds: Annotated[int, Field(ge=60, le=86400)] = 3600
    chain: WatchConfig = WatchConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        file = _config_file.get()
        if file is None:
            return (init_settings, env_settings)
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, file))

    @model_validator(mode="after")
    def _check(self) -> Self:
        gtins = Counter(gtin_key(item.gtin) for item in self.items)
        dupes = [g for g, n in gtins.items() if n > 1]
        if dupes:
            raise ValueError(f"items.gtin: {dupes[0]} is listed twice")
        pairs = Counter((t.chain_id, t.address) for t in self.tokens)
        if any(n > 1 for n in pairs.values()):
            raise ValueError("tokens: a token is listed twice for one chain")
        if self.rfq_retention_days * 86400 <= self.session_ttl_seconds + self.quote_ttl_seconds:
            raise ValueError(
                "rfq_retention_days: must outlast a negotiation and its quotes' validity"
            )
        return self

    @property
    def chain_ids(self) -> list[int]:
        return sorted({t.chain_id for t in self.tokens})

    def accepts(self, chain_id: int, token: str) -> bool:
        return any(t.chain_id == chain_id and t.address == token for t in self.tokens)


def load_supplier_settings(path: Path) -> SupplierSettings:
    """Read ``path`` plus env; raise ``ConfigError`` naming the bad key on any fault."""
    if not path.is_file():
        raise ConfigError("config", f"file not found: {path}")
    token = _config_file.set(path)
    try:
        settings = SupplierSettings()  # fields come from the TOML source
    except ValidationError as exc:
        raise _config_error(exc) from None
    except (ValueError, OSError) as exc:  # TOML syntax errors
        raise ConfigError("config", f"{path}: {exc}") from None
    finally:
        _config_file.reset(token)
    base = path.resolve().parent
    passphrase_file = settings.passphrase_file
    return settings.model_copy(
        update={
            "keystore": base / settings.keystore,
            "database": base / settings.database,
            "passphrase_file": None if passphrase_file is None else base / passphrase_file,
        }
    )


def _config_error(exc: ValidationError) -> ConfigError:
    err = exc.errors(include_url=False)[0]
    key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in err["loc"])
    key = key.removeprefix(".")
    message = err["msg"].removeprefix("Value error, ")
    if not key and ": " in message:  # whole-model checks name their own key
        key, message = message.split(": ", 1)
    if err["type"] == "extra_forbidden":
        message = "unknown key"
    return ConfigError(key or "config", message)
