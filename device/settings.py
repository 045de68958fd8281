"""One settings object for the whole machine: a TOML file plus ``CUSTOBOT_*`` env.

Environment variables override the file (``CUSTOBOT_DATABASE=/tmp/x.db``,
``CUSTOBOT_DASHBOARD__PORT=9000``). Without a file the embedded defaults
(``device/defaults.toml``, a 6-slot snack machine on mock pins) are used.
"""

from __future__ import annotations

import contextvars
import ipaddress
from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
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

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")
_config_file: contextvars.ContextVar[Path] = contextvars.ContextVar(
    "custobot_config_file", default=DEFAULTS_FILE
)

Pin = Annotated[int, Field(ge=0, le=27, description="BCM GPIO number")]
BaseUnits = Annotated[int, Field(ge=0, description="token base units (USDC: 6 decimals)")]
# The hardware SPI0 pins the MCP3008 occupies (SCLK, MOSI, MISO, CE0, CE1).
SPI0_PINS = (11, 10, 9, 8, 7)


class Kind(StrEnum):
    """What machine the profit-centre core runs: each kind brings its own I/O, what it
    sells, what it buys and how it decides (``device/vending/``, ``device/taxi/``)."""

    VENDING = "vending"
    TAXI = "taxi"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DistanceSensorConfig(_Strict):
    """HC-SR04 style ultrasonic sensor looking down a column of stacked items."""

    kind: Literal["distance"]
    trigger_pin: Pin
    echo_pin: Pin
    empty_distance_m: PositiveFloat = Field(description="sensor to column floor")
    item_pitch_m: PositiveFloat = Field(description="height of one item in the column")


class AnalogSensorConfig(_Strict):
    """Load cell amplifier or IR distance sensor on an MCP3008 channel (SPI0)."""

    kind: Literal["analog"]
    channel: Annotated[int, Field(ge=0, le=7)]
    select: Literal[0, 1] = Field(default=0, description="SPI chip select CE0/CE1")
    calibration: list[tuple[float, NonNegativeInt]] = Field(
        min_length=2, description="(reading 0..1, item count) points, any order"
    )


class SwitchSensorConfig(_Strict):
    """A low-stock or empty switch (Button or LineSensor): a floor, not a count."""

    kind: Literal["switch"]
    pin: Pin
    device: Literal["button", "line"] = "button"
    floor: NonNegativeInt = Field(default=0, description="items left when the switch trips")


class SalesCountConfig(_Strict):
    """No sensor: stock is the last recount minus sales since."""

    kind: Literal["sales"]


SensorConfig = Annotated[
    DistanceSensorConfig | AnalogSensorConfig | SwitchSensorConfig | SalesCountConfig,
    Field(discriminator="kind"),
]


class SlotConfig(_Strict):
    id: PositiveInt
    gtin: Annotated[str, Field(pattern=r"^\d{8,14}$")]
    name: Annotated[str, Field(min_length=1, max_length=64)]
    retail_price: BaseUnits
    capacity: PositiveInt
    par: NonNegativeInt
    shelf_life_days: PositiveInt | None = None
    floor_price: BaseUnits | None = Field(
        default=None,
        description="the lowest price a markdown may reach; default: pricing.floor_pct of "
        "retail_price (the list price)",
    )
    motor_pin: Pin
    sensor: SensorConfig

    @model_validator(mode="after")
    def _par_fits(self) -> Self:
        if self.capacity < self.par:
            raise ValueError(f"capacity ({self.capacity}) is below par ({self.par})")
        if self.floor_price is not None and self.floor_price > self.retail_price:
            raise ValueError(
                f"floor_price ({self.floor_price}) is above retail_price ({self.retail_price})"
            )
        return self


class MachinePinsConfig(_Strict):
    door_pin: Pin = 17
    coin_pin: Pin = 27
    drop_sensor_pin: Pin = 22
    coin_value: BaseUnits = Field(default=500_000, description="value of one coin pulse")
    motor_pulse_s: Annotated[float, Field(ge=0, le=30)] = 1.5
    drop_timeout_s: Annotated[float, Field(gt=0, le=30)] = 3.0


class AgentConfig(_Strict):
    """How often the agent core looks at the machine, what a delivery costs it, and how
    much profit the owners will give up for less food thrown away."""

    poll_interval_s: Annotated[int, Field(ge=5, le=86_400)] = 300
    plan_interval_h: Annotated[float, Field(gt=0, le=168)] = 6.0
    order_cost: BaseUnits = Field(
        default=0,
        description="what one delivery costs beyond its goods (a delivery charge the "
        "suppliers bill apart, gas): a restock waits for the next plan unless ordering "
        "now saves more",
    )
    waste_penalty: Annotated[float, Field(ge=0, le=100)] = Field(
        default=8.0,
        description="the owners' price on food waste: each perishable thrown away counts "
        "this many times its cost against a restock, on top of the cost itself (0: the "
        "most profit, whatever is thrown away)",
    )

    def waste_policy(self) -> str:
        """``waste_penalty`` in words, for the dashboard and ``custobot status``."""
        if not self.waste_penalty:
            return "counted at its cost only: the most profit, whatever is thrown away"
        return (
            f"each perishable thrown away counts {self.waste_penalty:g} times its cost against "
            "a restock, on top of the cost: fewer fresh items bought and thrown away, a "
            "little less profit"
        )


class PricingConfig(_Strict):
    """The owners' price policy: ``retail_price`` per slot is the list price, never
    exceeded; markdowns of near-expiry units are off unless the owners turn them on
    (a price change customers see is the owners' call, not a default)."""

    markdowns: bool = Field(
        default=False, description="lower the price of fresh units close to their expiry"
    )
    max_markdown_pct: Annotated[int, Field(ge=0, le=90)] = Field(
        default=40, description="the deepest markdown, in % of the list price"
    )
    floor_pct: Annotated[int, Field(ge=0, le=100)] = Field(
        default=50,
        description="a slot's floor price when it sets no floor_price, in % of its list price",
    )

    def floor(self, slot: SlotConfig) -> int:
        """The lowest price ``slot`` may ever be sold at (its own floor, else floor_pct)."""
        if slot.floor_price is not None:
            return slot.floor_price
        return slot.retail_price * self.floor_pct // 100


class ChainConfig(_Strict):
    """Where the ProfitCenter lives. ``eth-tester`` is the in-process embedded chain."""

    kind: Literal["eth-tester", "rpc"] = "eth-tester"
    rpc_url: str | None = None
    chain_id: PositiveInt | None = None
    profit_center: str | None = None
    token: str | None = None
    token_decimals: Annotated[int, Field(ge=0, le=36)] = 6
    keystore: Path | None = None

    @model_validator(mode="after")
    def _rpc_needs_url(self) -> Self:
        if self.kind == "rpc" and not self.rpc_url:
            raise ValueError("rpc_url is required when kind = 'rpc'")
        return self


class SupplierEndpoint(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    url: Annotated[str, Field(pattern=r"^https?://")]


class DashboardConfig(_Strict):
    """Where the owners' dashboard listens (``custobot dashboard``, custobot-dashboard.service)."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    tls_certfile: Path | None = Field(default=None, description="PEM certificate: serve HTTPS")
    tls_keyfile: Path | None = Field(default=None, description="PEM private key of the certificate")
    metrics_auth: Literal["auto", "token", "open"] = Field(
        default="auto",
        description="/metrics needs a bearer token: always (token), never (open), or "
        "whenever the dashboard binds beyond loopback (auto)",
    )
    metrics_token_file: Path | None = Field(
        default=None,
        description="the bearer token for /metrics (created, mode 0600, on first start; "
        "default: metrics.token next to the database)",
    )

    @model_validator(mode="after")
    def _tls_pair(self) -> Self:
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("tls_certfile and tls_keyfile go together")
        return self

    @property
    def loopback(self) -> bool:
        """True when only this machine can reach the dashboard."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:  # a host name: it may resolve to anything
            return False

    @property
    def metrics_token_required(self) -> bool:
        return self.metrics_auth == "token" or (self.metrics_auth == "auto" and not self.loopback)


class Settings(BaseSettings):
    """Everything the machine needs to know about itself."""

    model_config = SettingsConfigDict(
        env_prefix="CUSTOBOT_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    device_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    kind: Kind = Kind.VENDING
    pin_factory: Literal["mock", "lgpio"] = "mock"
    database: Path = Path("custobot.db")
    slots: list[SlotConfig] = Field(default=[], max_length=64, description="vending only")
    machine: MachinePinsConfig = MachinePinsConfig()
    agent: AgentConfig = AgentConfig()
    pricing: PricingConfig = PricingConfig()
    chain: ChainConfig = ChainConfig()
    suppliers: list[SupplierEndpoint] = []
    dashboard: DashboardConfig = DashboardConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_file.get())
        return (init_settings, env_settings, toml)

    @model_validator(mode="after")
    def _unique_ids_and_pins(self) -> Self:
        if self.kind is Kind.VENDING and not self.slots:
            raise ValueError("slots: a vending machine needs at least one slot")
        identities: tuple[tuple[str, list[int | str]], ...] = (
            ("slots.id", [s.id for s in self.slots]),
            ("slots.gtin", [s.gtin for s in self.slots]),
        )
        for field, values in identities:
            dupes = [v for v, n in Counter(values).items() if n > 1]
            if dupes:
                raise ValueError(f"{field}: {dupes[0]} is used twice")
        uses: list[tuple[int, str]] = []
        m = self.machine
        uses += [(m.door_pin, "machine.door_pin"), (m.coin_pin, "machine.coin_pin")]
        uses.append((m.drop_sensor_pin, "machine.drop_sensor_pin"))
        for i, slot in enumerate(self.slots):
            uses.append((slot.motor_pin, f"slots[{i}].motor_pin"))
            s = slot.sensor
            if isinstance(s, DistanceSensorConfig):
                uses += [(s.trigger_pin, f"slots[{i}].sensor.trigger_pin")]
                uses += [(s.echo_pin, f"slots[{i}].sensor.echo_pin")]
            elif isinstance(s, SwitchSensorConfig):
                uses.append((s.pin, f"slots[{i}].sensor.pin"))
        if any(isinstance(s.sensor, AnalogSensorConfig) for s in self.slots):
            uses += [(pin, "spi0") for pin in SPI0_PINS]
            channels: list[tuple[int, int]] = []
            for slot in self.slots:
                if isinstance(slot.sensor, AnalogSensorConfig):
                    channels.append((slot.sensor.select, slot.sensor.channel))
            shared = [c for c, n in Counter(channels).items() if n > 1]
            if shared:
                raise ValueError(
                    f"slots.sensor.channel: MCP3008 CE{shared[0][0]} channel {shared[0][1]} is used twice"
                )
        owner: dict[int, str] = {}
        for pin, key in uses:
            if pin in owner:
                raise ValueError(f"{key}: GPIO{pin} is already used by {owner[pin]}")
            owner[pin] = key
        return self

    def slot(self, slot_id: int) -> SlotConfig:
        for slot in self.slots:
            if slot.id == slot_id:
                return slot
        raise KeyError(slot_id)


def load_settings(path: Path | None = None) -> Settings:
    """Read ``path`` (or the embedded defaults) plus env; raise ``ConfigError`` on any fault."""
    file = path if path is not None else DEFAULTS_FILE
    if not file.is_file():
        raise ConfigError("config", f"file not found: {file}")
    token = _config_file.set(file)
    try:
        return Settings()  # fields come from the TOML source
    except ValidationError as exc:
        raise _config_error(exc) from None
    except (ValueError, OSError) as exc:  # TOML syntax errors
        raise ConfigError("config", f"{file}: {exc}") from None
    finally:
        _config_file.reset(token)


def _config_error(exc: ValidationError) -> ConfigError:
    err = exc.errors(include_url=False)[0]
    key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in err["loc"])
    key = key.removeprefix(".")
    message = err["msg"].removeprefix("Value error, ")
    if not key and ": " in message:  # whole-model checks name their own key
        key, message = message.split(": ", 1)
    if err["type"] == "union_tag_invalid":
        ctx = err.get("ctx", {})
        key = f"{key}.kind" if key else "kind"
        message = (
            f"unknown sensor kind {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
        )
    elif err["type"] == "extra_forbidden":
        message = "unknown key"
    return ConfigError(key or "config", message)
