// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @title ProfitCenter: the on-chain wallet of one machine customer
/// @notice Holds the machine's treasury in one settlement token (fixed at deployment),
/// lets the machine's agent key buy from allow-listed suppliers inside limits its
/// governor sets, and shares what is left above the operating reserve among members.
/// @dev The promise to the owners: a stolen agent key can take at most what the
/// policy allows (per order: the cap; over any time t: the budget plus its refill,
/// budget * (1 + t / period)), and only by paying allow-listed suppliers in the
/// settlement token. The governor is the contract's owner (two-step hand-over).
/// Accounting is internal (`treasury`), so placing an order needs no `balanceOf`;
/// tokens sent by a plain transfer are surplus that `distribute` recognises. The
/// settlement token must be a plain ERC-20 (no fee on transfer, no rebasing, at most
/// 8 decimals, checked at deployment and on every deposit). An order lives in one
/// storage slot keyed by keccak256(abi.encode(supplier, nonce)); a non-empty slot is
/// what marks a quote nonce as used.
contract ProfitCenter is EIP712, Ownable2Step, Pausable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice How much the agent may decide alone.
    enum Autonomy {
        Bound, // every order waits for the governor
        Adaptable, // orders above the auto-approval threshold wait for the governor
        Autonomous // every order within cap and budget is placed at once
    }

    /// @notice Life cycle of an order (and of a cancelled quote nonce).
    enum OrderStatus {
        None,
        AwaitingApproval,
        Open,
        Delivered,
        Disputed,
        Settled,
        Rejected,
        Released,
        NonceCancelled,
        Cancelled,
        Withdrawn
    }

    /// @notice A supplier's signed offer (EIP-712 type `Quote`).
    struct Quote {
        address supplier;
        address buyer;
        address token;
        uint256 amount;
        bytes32 itemsHash;
        uint64 deliverBy;
        uint64 expiry;
        uint256 nonce;
    }

    /// @notice One order, packed in one slot. `time` is the deliver-by deadline while
    /// awaiting approval or open, the end of the dispute window once delivered, the
    /// dispute's resolve-by time once disputed, the settlement time once settled.
    /// `amount` is the reserved amount, and once settled the amount paid.
    struct Order {
        address supplier;
        uint56 amount;
        uint32 time;
        OrderStatus status;
    }

    /// @notice Everything the governor sets at once.
    struct Policy {
        Autonomy autonomy;
        uint40 autoApprovalThreshold;
        uint40 perOrderCap;
        uint48 budgetPerPeriod;
        uint32 periodLength;
        uint64 operatingReserve;
        uint32 disputeWindow;
    }

    /// @notice What placeOrder needs, in one slot: treasury (owned by the machine),
    /// reserved for open orders, the budget the agent may still commit (a bucket of
    /// `budgetPerPeriod` that refills continuously over the period), the bucket's size,
    /// when it was last refilled, the period in hours, and the agent key's expiry as a
    /// day number (it may place orders before 00:00 UTC of that day).
    struct Books {
        uint56 treasury;
        uint56 reserved;
        uint40 budgetAvailable;
        uint40 budgetPerPeriod;
        uint32 refilledAt;
        uint16 periodHours;
        uint16 agentValidDay;
    }

    /// @notice The EIP-712 type hash of `Quote` (contracts/quote.py QUOTE_TYPE_STRING).
    bytes32 public constant QUOTE_TYPEHASH = keccak256(
        "Quote(address supplier,address buyer,address token,uint256 amount,bytes32 itemsHash,uint64 deliverBy,uint64 expiry,uint256 nonce)"
    );
    /// @notice Upper bound on members, so that `distribute` always fits in a block.
    uint256 public constant MAX_MEMBERS = 50;
    /// @notice The settlement token's decimals at most (treasury amounts fit in 56 bits:
    /// 72 billion units of a 6-decimal token).
    uint8 public constant MAX_TOKEN_DECIMALS = 8;
    /// @notice Bounds on the dispute window the governor may set.
    uint32 public constant MIN_DISPUTE_WINDOW = 1 hours;
    uint32 public constant MAX_DISPUTE_WINDOW = 30 days;
    /// @notice Bounds on the budget period (a whole number of hours).
    uint32 public constant MIN_PERIOD_LENGTH = 1 hours;
    uint32 public constant MAX_PERIOD_LENGTH = 366 days;
    /// @notice How long the governor has to resolve a dispute before the supplier may claim in full.
    uint32 public constant DISPUTE_RESOLUTION_PERIOD = 14 days;
    /// @notice After a pause, every deadline that fell during it (or later) runs at least this long.
    uint32 public constant RESUME_GRACE = 1 days;
    /// @notice A demand factor of 1.0 in basis points: a taxi's fare is the published tariff.
    uint16 public constant NO_SURGE_BP = 10_000;
    /// @notice The highest demand-factor cap the governor may set (5.0x the tariff).
    uint16 public constant MAX_FARE_CAP_BP = 50_000;

    IERC20 private immutable _token;

    // placeOrder reads three slots of its own: this one (shared with Pausable's `_paused`),
    // the books (with the budget period and the key's expiry), and the supplier's
    // allow-list entry.
    address private _agent;
    Autonomy private _autonomy;
    uint40 private _autoApprovalThreshold;
    uint40 private _perOrderCap;
    // One slot: the books (see Books).
    Books private _books;
    // One slot: the dispute window, the pause clock, the operating reserve, and a taxi's
    // fare rules (the demand-factor cap in basis points, the emergency flag).
    uint32 private _disputeWindow;
    uint32 private _pauseStart;
    uint32 private _resumedAt;
    uint64 private _operatingReserve;
    uint16 private _fareCapBp;
    bool private _emergency;

    uint256 private _totalClaimable;
    uint256 private _totalShares;
    address[] private _members;
    mapping(address member => uint256) private _shares;
    mapping(address member => uint256) private _claimable;
    mapping(address supplier => bool) private _allowedSuppliers;
    mapping(bytes32 orderId => Order) private _orders;

    /// @notice The caller is not the governor.
    error NotGovernor(address caller);
    /// @notice The caller is not the agent.
    error NotAgent(address caller);
    /// @notice The caller is neither the governor nor the agent.
    error NotGovernorOrAgent(address caller);
    /// @notice The caller is not the order's supplier.
    error NotSupplier(bytes32 orderId, address caller);
    /// @notice The agent key expired at `validUntil`; the governor renews it with `setAgent`.
    error AgentKeyExpired(uint256 validUntil);
    /// @notice An address that must be set is zero.
    error ZeroAddress();
    /// @notice The agent and the governor must be different addresses.
    error AgentIsGovernor(address account);
    /// @notice Governance cannot be renounced (nobody could unpause or resolve disputes).
    error RenounceDisabled();
    /// @notice An amount that must be positive is zero.
    error ZeroAmount();
    /// @notice A policy field is out of range (`field` names it).
    error InvalidPolicy(string field);
    /// @notice The settlement token is not usable (no `decimals`, or more than MAX_TOKEN_DECIMALS).
    error UnsupportedToken(address token);
    /// @notice A deposit credited less than it claimed (a fee-on-transfer token).
    error DepositShortfall(uint256 expected, uint256 received);
    /// @notice The quote is addressed to another buyer.
    error WrongBuyer(address buyer);
    /// @notice The quote is in another token than the settlement token.
    error WrongToken(address token);
    /// @notice The quote expired before it was placed.
    error QuoteExpired(uint256 expiry, uint256 timestamp);
    /// @notice The delivery deadline is already over.
    error DeadlinePassed(uint256 deliverBy, uint256 timestamp);
    /// @notice The delivery deadline does not fit in 32 bits of seconds.
    error DeadlineTooFar(uint64 deliverBy);
    /// @notice The supplier is not on the allow-list.
    error SupplierNotAllowed(address supplier);
    /// @notice The signature is not the supplier's (EOA or ERC-1271 wallet).
    error InvalidSignature(address supplier);
    /// @notice The quote nonce was already used by an order.
    error NonceUsed(address supplier, uint256 nonce);
    /// @notice The supplier cancelled this quote nonce.
    error NonceWasCancelled(address supplier, uint256 nonce);
    /// @notice The amount is above the per-order cap.
    error ExceedsOrderCap(uint256 amount, uint256 cap);
    /// @notice The amount is above the budget the agent may still commit.
    error BudgetExceeded(uint256 amount, uint256 available);
    /// @notice The treasury does not hold enough unreserved money.
    error InsufficientTreasury(uint256 amount, uint256 available);
    /// @notice The order is not in a status that allows this call.
    error WrongStatus(bytes32 orderId, OrderStatus status);
    /// @notice More was confirmed delivered than ordered.
    error DeliveredTooMuch(uint256 delivered, uint256 amount);
    /// @notice After the dispute window (or on a disputed order) the agent may only pay in full.
    error PartialPaymentNotAllowed(bytes32 orderId, uint256 paid, uint256 amount);
    /// @notice The dispute window (or the governor's time to resolve) is open until `until`.
    error DisputeWindowOpen(uint256 until);
    /// @notice The dispute window closed at `closedAt`.
    error DisputeWindowClosed(uint256 closedAt);
    /// @notice The deadline has not passed yet.
    error DeadlineNotReached(uint256 deadline);
    /// @notice Nothing is above the operating reserve and open reservations.
    error NothingToDistribute();
    /// @notice There are no members to distribute to.
    error NoMembers();
    /// @notice The member has nothing to claim.
    error NothingToClaim(address member);
    /// @notice More members than MAX_MEMBERS.
    error TooManyMembers(uint256 count, uint256 max);
    /// @notice Two arrays that must have the same length do not.
    error LengthMismatch(uint256 members, uint256 shares);
    /// @notice A member appears twice or has a zero share.
    error InvalidMember(address member);
    /// @notice A demand-factor cap below 1.0 (a discount, not a cap) or above MAX_FARE_CAP_BP.
    error InvalidFareCap(uint256 capBp, uint256 minBp, uint256 maxBp);

    /// @notice The agent key changed or was renewed; it may commit money until `validUntil`.
    event AgentChanged(address indexed previousAgent, address indexed newAgent, uint256 validUntil);
    /// @notice The policy changed.
    event PolicyChanged(Policy policy);
    /// @notice A supplier was added to or removed from the allow-list.
    event SupplierAllowed(address indexed supplier, bool allowed);
    /// @notice The agent placed an order from a signed quote; its amount is reserved and
    /// counted against the budget. Carries what a monitor needs without decoding calldata.
    event OrderPlaced(
        bytes32 indexed orderId,
        address indexed supplier,
        address indexed token,
        uint256 nonce,
        uint256 amount,
        bytes32 itemsHash,
        uint256 deliverBy,
        bool awaitingApproval
    );
    /// @notice The governor approved an order that waited for approval.
    event OrderApproved(bytes32 indexed orderId);
    /// @notice The governor rejected an order; its reservation is released.
    event OrderRejected(bytes32 indexed orderId, uint256 released);
    /// @notice The governor cancelled an open order; its reservation is released.
    event OrderCancelled(bytes32 indexed orderId, uint256 released);
    /// @notice The supplier withdrew an order that still awaited approval.
    event OrderWithdrawn(bytes32 indexed orderId, uint256 released);
    /// @notice The supplier declared the order delivered; the dispute window opened.
    event OrderDelivered(bytes32 indexed orderId, uint256 disputeUntil);
    /// @notice The agent disputed a delivery; the governor resolves it by `resolveBy`.
    event OrderDisputed(bytes32 indexed orderId, uint256 resolveBy);
    /// @notice The order was paid (`paid`) and the rest of its reservation released.
    event OrderSettled(bytes32 indexed orderId, address indexed supplier, uint256 paid, uint256 released);
    /// @notice An order passed its deadline undelivered (or unapproved); its reservation is released.
    event OrderReleased(bytes32 indexed orderId, uint256 released);
    /// @notice A supplier cancelled one of its quote nonces.
    event NonceCancelled(address indexed supplier, uint256 nonce);
    /// @notice Revenue entered the treasury.
    event RevenueDeposited(address indexed from, uint256 amount);
    /// @notice Tokens sent directly to the contract were added to the treasury.
    event SurplusRecognized(uint256 amount);
    /// @notice The member list and shares changed.
    event MembersChanged(address[] members, uint256[] shares);
    /// @notice `amount` of the treasury became claimable by members.
    event Distributed(uint256 amount);
    /// @notice A member withdrew its claimable balance.
    event Claimed(address indexed member, uint256 amount);
    /// @notice The governor set the cap on a taxi's demand factor (basis points, 10,000 = 1.0x).
    event FareCapChanged(uint256 capBp);
    /// @notice The governor declared an emergency (no surge at all) or ended it.
    event EmergencyChanged(bool active);

    modifier onlyGovernor() {
        if (msg.sender != owner()) revert NotGovernor(msg.sender);
        _;
    }

    modifier onlyAgent() {
        if (msg.sender != _agent) revert NotAgent(msg.sender);
        _;
    }

    modifier onlyGovernorOrAgent() {
        if (msg.sender != owner() && msg.sender != _agent) revert NotGovernorOrAgent(msg.sender);
        _;
    }

    /// @param governor_ The owners (EOA, multisig or Governor+Timelock).
    /// @param agent_ The machine's hot key.
    /// @param agentValidUntil_ Until when the agent key may place orders (unix seconds,
    /// rounded down to 00:00 UTC).
    /// @param token_ The settlement token (fixed for the contract's life).
    /// @param policy_ The initial policy.
    constructor(
        address governor_,
        address agent_,
        uint32 agentValidUntil_,
        IERC20 token_,
        Policy memory policy_
    ) EIP712("custobot ProfitCenter", "2") Ownable(governor_) {
        if (agent_ == address(0) || address(token_) == address(0)) revert ZeroAddress();
        if (agent_ == governor_) revert AgentIsGovernor(agent_);
        try IERC20Metadata(address(token_)).decimals() returns (uint8 decimals) {
            if (decimals > MAX_TOKEN_DECIMALS) revert UnsupportedToken(address(token_));
        } catch {
            revert UnsupportedToken(address(token_));
        }
        _token = token_;
        _agent = agent_;
        _pauseStart = type(uint32).max;
        _fareCapBp = NO_SURGE_BP;
        Books memory b = _loadBooks();
        b.refilledAt = uint32(block.timestamp);
        b.agentValidDay = _day(agentValidUntil_);
        _setPolicy(b, policy_);
        b.budgetAvailable = b.budgetPerPeriod;
        _storeBooks(b);
        emit AgentChanged(address(0), agent_, uint256(b.agentValidDay) * 1 days);
    }

    // ------------------------------------------------------------------ orders

    /// @notice Place an order from a supplier's signed quote and reserve its amount.
    /// @dev Only the agent, while its key is valid. Every order counts against the budget
    /// when it is placed, whether it waits for approval or not, and never gives it back:
    /// what the agent commits over any time t is at most budget * (1 + t / period).
    /// The supplier must be allow-listed and the quote in the settlement token.
    /// @param quote The quote as the supplier signed it.
    /// @param signature The supplier's EIP-712 signature (65 bytes, or any bytes for an ERC-1271 wallet).
    /// @return orderId keccak256(abi.encode(quote.supplier, quote.nonce)).
    function placeOrder(Quote calldata quote, bytes calldata signature)
        external
        whenNotPaused
        onlyAgent
        returns (bytes32 orderId)
    {
        if (quote.buyer != address(this)) revert WrongBuyer(quote.buyer);
        if (quote.token != address(_token)) revert WrongToken(quote.token);
        if (block.timestamp > quote.expiry) revert QuoteExpired(quote.expiry, block.timestamp);
        if (quote.deliverBy > type(uint32).max) revert DeadlineTooFar(quote.deliverBy);
        if (block.timestamp > quote.deliverBy) revert DeadlinePassed(quote.deliverBy, block.timestamp);
        uint256 amount = quote.amount;
        if (amount == 0) revert ZeroAmount();
        if (amount > _perOrderCap) revert ExceedsOrderCap(amount, _perOrderCap);
        address supplier = quote.supplier;
        if (!_allowedSuppliers[supplier]) revert SupplierNotAllowed(supplier);

        orderId = orderIdOf(supplier, quote.nonce);
        OrderStatus previous = _loadOrder(orderId).status;
        if (previous != OrderStatus.None) {
            if (previous == OrderStatus.NonceCancelled) revert NonceWasCancelled(supplier, quote.nonce);
            revert NonceUsed(supplier, quote.nonce);
        }
        _checkSignature(quote, signature);

        Autonomy autonomy = _autonomy;
        bool awaitingApproval = autonomy == Autonomy.Bound
            || (autonomy == Autonomy.Adaptable && amount > _autoApprovalThreshold);
        Books memory b = _loadBooks();
        uint256 validUntil = uint256(b.agentValidDay) * 1 days;
        if (block.timestamp >= validUntil) revert AgentKeyExpired(validUntil);
        _spendBudget(b, amount);
        uint256 available = b.treasury - b.reserved;
        if (amount > available) revert InsufficientTreasury(amount, available);
        b.reserved += uint56(amount);
        _storeBooks(b);
        _storeOrder(orderId, Order({
            supplier: supplier,
            amount: uint56(amount),
            time: uint32(quote.deliverBy),
            status: awaitingApproval ? OrderStatus.AwaitingApproval : OrderStatus.Open
        }));
        emit OrderPlaced(
            orderId, supplier, address(_token), quote.nonce, amount, quote.itemsHash, quote.deliverBy, awaitingApproval
        );
    }

    /// @notice Approve an order that waits for the governor, before its delivery deadline.
    /// @dev The quote's expiry bounds its placement; once placed, the supplier sees the
    /// order on-chain and may withdraw it (`withdrawOrder`) until it is approved.
    function approveOrder(bytes32 orderId) external onlyGovernor whenNotPaused {
        Order memory order = _loadOrder(orderId);
        if (order.status != OrderStatus.AwaitingApproval) revert WrongStatus(orderId, order.status);
        uint256 deadline = _unpausedDeadline(order.time);
        if (block.timestamp > deadline) revert DeadlinePassed(deadline, block.timestamp);
        if (!_allowedSuppliers[order.supplier]) revert SupplierNotAllowed(order.supplier);
        order.status = OrderStatus.Open;
        _storeOrder(orderId, order);
        emit OrderApproved(orderId);
    }

    /// @notice Reject an order that waits for the governor; its reservation is released.
    function rejectOrder(bytes32 orderId) external onlyGovernor {
        Order memory order = _loadOrder(orderId);
        if (order.status != OrderStatus.AwaitingApproval) revert WrongStatus(orderId, order.status);
        _release(orderId, order, OrderStatus.Rejected);
        emit OrderRejected(orderId, order.amount);
    }

    /// @notice Cancel an open (undelivered) order; its reservation is released, nothing is paid.
    /// @dev For a supplier the owners no longer trust, or an order they no longer want.
    function cancelOrder(bytes32 orderId) external onlyGovernor {
        Order memory order = _loadOrder(orderId);
        if (order.status != OrderStatus.Open) revert WrongStatus(orderId, order.status);
        _release(orderId, order, OrderStatus.Cancelled);
        emit OrderCancelled(orderId, order.amount);
    }

    /// @notice The supplier withdraws its quote from an order that still awaits approval.
    function withdrawOrder(bytes32 orderId) external {
        Order memory order = _loadOrder(orderId);
        if (msg.sender != order.supplier) revert NotSupplier(orderId, msg.sender);
        if (order.status != OrderStatus.AwaitingApproval) revert WrongStatus(orderId, order.status);
        _release(orderId, order, OrderStatus.Withdrawn);
        emit OrderWithdrawn(orderId, order.amount);
    }

    /// @notice The agent confirms what arrived and pays an allow-listed supplier for it.
    /// @dev On an open order, or a delivered one inside its dispute window, the agent pays
    /// what its instruments counted (all or part; the rest is released). After the window,
    /// or on an order it disputed, it may only pay in full: anything less is the
    /// governor's decision (`resolveDispute`) or the supplier's claim.
    /// @param amountDelivered What to pay the supplier.
    function confirmDelivery(bytes32 orderId, uint256 amountDelivered) external whenNotPaused onlyAgent nonReentrant {
        Order memory order = _loadOrder(orderId);
        OrderStatus status = order.status;
        if (status != OrderStatus.Open) {
            if (status != OrderStatus.Delivered && status != OrderStatus.Disputed) {
                revert WrongStatus(orderId, status);
            }
            if (amountDelivered < order.amount
                && (status == OrderStatus.Disputed || block.timestamp >= _unpausedDeadline(order.time))) {
                revert PartialPaymentNotAllowed(orderId, amountDelivered, order.amount);
            }
        }
        if (!_allowedSuppliers[order.supplier]) revert SupplierNotAllowed(order.supplier);
        _settle(orderId, order, amountDelivered);
    }

    /// @notice The supplier declares an open order delivered; the dispute window starts.
    /// @dev The window is fixed now, from the policy of the moment.
    function markDelivered(bytes32 orderId) external whenNotPaused {
        Order memory order = _loadOrder(orderId);
        if (msg.sender != order.supplier) revert NotSupplier(orderId, msg.sender);
        if (order.status != OrderStatus.Open) revert WrongStatus(orderId, order.status);
        uint256 deadline = _unpausedDeadline(order.time);
        if (block.timestamp > deadline) revert DeadlinePassed(deadline, block.timestamp);
        uint256 disputeUntil = block.timestamp + _disputeWindow;
        _storeOrder(orderId, Order({
            supplier: order.supplier,
            amount: order.amount,
            time: uint32(disputeUntil),
            status: OrderStatus.Delivered
        }));
        emit OrderDelivered(orderId, disputeUntil);
    }

    /// @notice The supplier collects the full amount once the dispute window has passed
    /// undisputed, or once the governor let a dispute go unresolved past its resolve-by time.
    function claimPayment(bytes32 orderId) external whenNotPaused nonReentrant {
        Order memory order = _loadOrder(orderId);
        if (msg.sender != order.supplier) revert NotSupplier(orderId, msg.sender);
        if (order.status != OrderStatus.Delivered && order.status != OrderStatus.Disputed) {
            revert WrongStatus(orderId, order.status);
        }
        uint256 until = _unpausedDeadline(order.time);
        if (block.timestamp < until) revert DisputeWindowOpen(until);
        if (!_allowedSuppliers[order.supplier]) revert SupplierNotAllowed(order.supplier);
        _settle(orderId, order, order.amount);
    }

    /// @notice The agent disputes a delivery inside the dispute window; the governor decides.
    function dispute(bytes32 orderId) external whenNotPaused onlyAgent {
        Order memory order = _loadOrder(orderId);
        if (order.status != OrderStatus.Delivered) revert WrongStatus(orderId, order.status);
        uint256 until = _unpausedDeadline(order.time);
        if (block.timestamp >= until) revert DisputeWindowClosed(until);
        uint256 resolveBy = block.timestamp + DISPUTE_RESOLUTION_PERIOD;
        order.status = OrderStatus.Disputed;
        order.time = uint32(resolveBy);
        _storeOrder(orderId, order);
        emit OrderDisputed(orderId, resolveBy);
    }

    /// @notice The governor settles a delivered or disputed order, paying the supplier
    /// `amountToSupplier` (at most the order's amount); the rest is released.
    function resolveDispute(bytes32 orderId, uint256 amountToSupplier) external onlyGovernor nonReentrant {
        Order memory order = _loadOrder(orderId);
        if (order.status != OrderStatus.Disputed && order.status != OrderStatus.Delivered) {
            revert WrongStatus(orderId, order.status);
        }
        _settle(orderId, order, amountToSupplier);
    }

    /// @notice Anyone may release an order not delivered (or approved) by its deadline.
    /// Time spent paused does not count (see `RESUME_GRACE`).
    function releaseExpired(bytes32 orderId) external {
        Order memory order = _loadOrder(orderId);
        if (order.status != OrderStatus.Open && order.status != OrderStatus.AwaitingApproval) {
            revert WrongStatus(orderId, order.status);
        }
        uint256 deadline = _unpausedDeadline(order.time);
        if (block.timestamp <= deadline) revert DeadlineNotReached(deadline);
        _release(orderId, order, OrderStatus.Released);
        emit OrderReleased(orderId, order.amount);
    }

    /// @notice A supplier withdraws an unused quote nonce, so that quote can never be placed.
    function cancelNonce(uint256 nonce) external {
        bytes32 orderId = orderIdOf(msg.sender, nonce);
        OrderStatus status = _loadOrder(orderId).status;
        if (status == OrderStatus.NonceCancelled) revert NonceWasCancelled(msg.sender, nonce);
        if (status != OrderStatus.None) revert NonceUsed(msg.sender, nonce);
        _storeOrder(orderId, Order({supplier: msg.sender, amount: 0, time: 0, status: OrderStatus.NonceCancelled}));
        emit NonceCancelled(msg.sender, nonce);
    }

    // ------------------------------------------------------------ money in/out

    /// @notice Move `amount` of the settlement token from the caller into the treasury.
    /// @dev The caller must have approved this contract first. A token that delivers
    /// less than `amount` (fee on transfer) is refused.
    function depositRevenue(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Books memory b = _loadBooks();
        b.treasury = SafeCast.toUint56(uint256(b.treasury) + amount);
        _storeBooks(b);
        emit RevenueDeposited(msg.sender, amount);
        uint256 before = _token.balanceOf(address(this));
        _token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = _token.balanceOf(address(this)) - before;
        if (received != amount) revert DepositShortfall(amount, received);
    }

    /// @notice Make what is above the operating reserve and open reservations claimable by share.
    /// @dev Governor or agent, also while paused. Tokens sent directly to the contract are
    /// recognised first (as much as the books can hold). Each member gets the floor of its
    /// share; the rounding remainder stays in the treasury for the next distribution.
    function distribute() external onlyGovernorOrAgent {
        uint256 totalShares = _totalShares;
        if (totalShares == 0) revert NoMembers();
        Books memory b = _loadBooks();
        uint256 held = _token.balanceOf(address(this));
        uint256 accounted = uint256(b.treasury) + _totalClaimable;
        if (held > accounted) {
            uint256 room = type(uint56).max - b.treasury;
            uint256 surplus = held - accounted;
            if (surplus > room) surplus = room;
            b.treasury += uint56(surplus);
            emit SurplusRecognized(surplus);
        }
        uint256 kept = uint256(b.reserved) + _operatingReserve;
        if (b.treasury <= kept) revert NothingToDistribute();
        uint256 amount = b.treasury - kept;
        uint256 count = _members.length;
        uint256 given;
        for (uint256 i; i < count; ++i) {
            address member = _members[i];
            uint256 part = amount * _shares[member] / totalShares;
            _claimable[member] += part;
            given += part;
        }
        if (given == 0) revert NothingToDistribute();
        b.treasury -= uint56(given);
        _storeBooks(b);
        _totalClaimable += given;
        emit Distributed(given);
    }

    /// @notice Withdraw the caller's claimable share of distributions (also while paused:
    /// money already owed to a member is never frozen).
    function claim() external nonReentrant {
        uint256 amount = _claimable[msg.sender];
        if (amount == 0) revert NothingToClaim(msg.sender);
        _claimable[msg.sender] = 0;
        _totalClaimable -= amount;
        emit Claimed(msg.sender, amount);
        _token.safeTransfer(msg.sender, amount);
    }

    // -------------------------------------------------------------- governance

    /// @notice Replace the whole policy. A budget change applies at once: the budget the
    /// agent may still commit moves by the same amount (never below zero), what it already
    /// committed stays committed, and the bucket refills at the new rate from now on.
    function setPolicy(Policy calldata policy_) external onlyGovernor {
        Books memory b = _loadBooks();
        _refill(b);
        uint256 previousBudget = b.budgetPerPeriod;
        _setPolicy(b, policy_);
        uint256 committed = previousBudget - b.budgetAvailable;
        b.budgetAvailable = committed >= b.budgetPerPeriod ? 0 : uint40(b.budgetPerPeriod - committed);
        b.refilledAt = uint32(block.timestamp); // time left over at the old rate is not refilled at the new one
        _storeBooks(b);
    }

    /// @notice Allow or disallow a supplier. A disallowed supplier gets no new order and
    /// no payment from the agent or its own claim; the governor settles what is open.
    function setSupplier(address supplier, bool allowed) external onlyGovernor {
        if (supplier == address(0)) revert ZeroAddress();
        _allowedSuppliers[supplier] = allowed;
        emit SupplierAllowed(supplier, allowed);
    }

    /// @notice Cap a taxi's demand factor at `capBp` basis points of its published tariff
    /// (10,000 = 1.0x: no surge). Riders and the taxi read it with `fareRules`.
    /// @dev Only the governor: the agent key prices the rides, so it must not set its own cap.
    function setFareCap(uint16 capBp) external onlyGovernor {
        if (capBp < NO_SURGE_BP || capBp > MAX_FARE_CAP_BP) {
            revert InvalidFareCap(capBp, NO_SURGE_BP, MAX_FARE_CAP_BP);
        }
        _fareCapBp = capBp;
        emit FareCapChanged(capBp);
    }

    /// @notice Declare an emergency (`active`): a taxi then charges the plain tariff, no
    /// surge, whatever the cap; or end it. Only the governor.
    function setEmergency(bool active) external onlyGovernor {
        _emergency = active;
        emit EmergencyChanged(active);
    }

    /// @notice Replace the members and their shares. Existing claimable balances stay claimable.
    function setMembers(address[] calldata members_, uint256[] calldata shares_) external onlyGovernor {
        if (members_.length != shares_.length) revert LengthMismatch(members_.length, shares_.length);
        if (members_.length > MAX_MEMBERS) revert TooManyMembers(members_.length, MAX_MEMBERS);
        uint256 oldCount = _members.length;
        for (uint256 i; i < oldCount; ++i) {
            delete _shares[_members[i]];
        }
        delete _members;
        uint256 total;
        for (uint256 i; i < members_.length; ++i) {
            address member = members_[i];
            if (member == address(0) || shares_[i] == 0 || _shares[member] != 0) revert InvalidMember(member);
            _shares[member] = shares_[i];
            _members.push(member);
            total += shares_[i];
        }
        _totalShares = total;
        emit MembersChanged(members_, shares_);
    }

    /// @notice Rotate or renew the agent key: `agent_` may place orders until `validUntil`
    /// (rounded down to 00:00 UTC). Orders it placed before stay as they are.
    function setAgent(address agent_, uint256 validUntil) external onlyGovernor {
        if (agent_ == address(0)) revert ZeroAddress();
        if (agent_ == owner() || agent_ == pendingOwner()) revert AgentIsGovernor(agent_);
        Books memory b = _loadBooks();
        b.agentValidDay = _day(validUntil);
        _storeBooks(b);
        emit AgentChanged(_agent, agent_, uint256(b.agentValidDay) * 1 days);
        _agent = agent_;
    }

    /// @notice Start handing governance to `newOwner`; it takes over when it calls
    /// `acceptOwnership`, which proves it can act. The agent can never become governor.
    function transferOwnership(address newOwner) public override onlyOwner {
        if (newOwner == _agent) revert AgentIsGovernor(newOwner);
        super.transferOwnership(newOwner);
    }

    /// @notice Disabled: without a governor nobody could unpause, resolve disputes or rotate the agent.
    function renounceOwnership() public view override onlyOwner {
        revert RenounceDisabled();
    }

    /// @notice Stop orders and payments, and the clocks that would take someone's right
    /// away. The agent may pull this emergency brake too; only the governor releases it.
    /// Deposits, distributions, members' claims and the governor's decisions still work.
    function pause() external onlyGovernorOrAgent {
        _pause();
    }

    /// @notice Resume; only the governor.
    function unpause() external onlyGovernor {
        _unpause();
    }

    // ------------------------------------------------------------------- views

    /// @notice The id of the order (or cancelled nonce) of `supplier`'s quote `nonce`.
    function orderIdOf(address supplier, uint256 nonce) public pure returns (bytes32 orderId) {
        assembly ("memory-safe") {
            mstore(0x00, supplier)
            mstore(0x20, nonce)
            orderId := keccak256(0x00, 0x40)
        }
    }

    /// @notice The order stored under `orderId` (status None if there is none).
    function orderInfo(bytes32 orderId) external view returns (Order memory) {
        return _loadOrder(orderId);
    }

    /// @notice When a deadline stored on an order really falls, with time spent paused
    /// not counted (type(uint256).max while paused: the clocks stand still).
    function effectiveDeadline(uint256 deadline) external view returns (uint256) {
        return _unpausedDeadline(deadline);
    }

    /// @notice The current policy.
    function policy() external view returns (Policy memory) {
        Books memory b = _loadBooks();
        return Policy({
            autonomy: _autonomy,
            autoApprovalThreshold: _autoApprovalThreshold,
            perOrderCap: _perOrderCap,
            budgetPerPeriod: b.budgetPerPeriod,
            periodLength: uint32(b.periodHours) * 1 hours,
            operatingReserve: _operatingReserve,
            disputeWindow: _disputeWindow
        });
    }

    /// @notice A taxi's fare rules: the demand-factor cap (basis points, 10,000 = 1.0x)
    /// and whether an emergency holds every fare to the plain tariff.
    function fareRules() external view returns (uint256 capBp, bool emergency) {
        return (_fareCapBp, _emergency);
    }

    /// @notice Treasury, reservations and the budget, as of now (refill applied).
    function currentBooks()
        external
        view
        returns (uint256 treasury, uint256 reserved, uint256 budgetAvailable, uint256 budgetPerPeriod, uint256 refilledAt)
    {
        Books memory b = _loadBooks();
        _refill(b);
        return (b.treasury, b.reserved, b.budgetAvailable, b.budgetPerPeriod, b.refilledAt);
    }

    /// @notice What the agent may still commit now.
    function budgetLeft() external view returns (uint256) {
        Books memory b = _loadBooks();
        _refill(b);
        return b.budgetAvailable;
    }

    /// @notice The machine's hot key.
    function agent() external view returns (address) {
        return _agent;
    }

    /// @notice Until when the agent key may commit money.
    function agentValidUntil() external view returns (uint256) {
        return uint256(_loadBooks().agentValidDay) * 1 days;
    }

    /// @notice The owners' address (the contract's owner).
    function governor() external view returns (address) {
        return owner();
    }

    /// @notice The settlement token.
    function token() external view returns (address) {
        return address(_token);
    }

    /// @notice Whether `supplier` is on the allow-list.
    function isSupplierAllowed(address supplier) external view returns (bool) {
        return _allowedSuppliers[supplier];
    }

    /// @notice Members and their shares.
    function members() external view returns (address[] memory list, uint256[] memory shares) {
        list = _members;
        shares = new uint256[](list.length);
        for (uint256 i; i < list.length; ++i) {
            shares[i] = _shares[list[i]];
        }
    }

    /// @notice What `member` can claim now.
    function claimable(address member) external view returns (uint256) {
        return _claimable[member];
    }

    /// @notice Distributed but not yet claimed, over all members.
    function totalClaimable() external view returns (uint256) {
        return _totalClaimable;
    }

    /// @notice The EIP-712 domain separator quotes are signed under.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ---------------------------------------------------------------- internal

    /// @dev Orders and books are read and written as whole words: the optimizer would
    /// otherwise write a packed struct field by field (one SSTORE per field).
    function _loadOrder(bytes32 orderId) private view returns (Order memory o) {
        Order storage slot = _orders[orderId];
        uint256 word;
        assembly ("memory-safe") {
            word := sload(slot.slot)
        }
        o.supplier = address(uint160(word));
        o.amount = uint56(word >> 160);
        o.time = uint32(word >> 216);
        o.status = OrderStatus(uint8(word >> 248));
    }

    function _storeOrder(bytes32 orderId, Order memory o) private {
        uint256 word = uint256(uint160(o.supplier)) | (uint256(o.amount) << 160) | (uint256(o.time) << 216)
            | (uint256(uint8(o.status)) << 248);
        Order storage slot = _orders[orderId];
        assembly ("memory-safe") {
            sstore(slot.slot, word)
        }
    }

    function _loadBooks() private view returns (Books memory b) {
        uint256 word;
        assembly ("memory-safe") {
            word := sload(_books.slot)
        }
        b.treasury = uint56(word);
        b.reserved = uint56(word >> 56);
        b.budgetAvailable = uint40(word >> 112);
        b.budgetPerPeriod = uint40(word >> 152);
        b.refilledAt = uint32(word >> 192);
        b.periodHours = uint16(word >> 224);
        b.agentValidDay = uint16(word >> 240);
    }

    function _storeBooks(Books memory b) private {
        uint256 word = uint256(b.treasury) | (uint256(b.reserved) << 56) | (uint256(b.budgetAvailable) << 112)
            | (uint256(b.budgetPerPeriod) << 152) | (uint256(b.refilledAt) << 192) | (uint256(b.periodHours) << 224)
            | (uint256(b.agentValidDay) << 240);
        assembly ("memory-safe") {
            sstore(_books.slot, word)
        }
    }

    /// @dev Check and store `p`; its budget and period go into `b` (the caller stores it).
    function _setPolicy(Books memory b, Policy memory p) private {
        if (p.periodLength < MIN_PERIOD_LENGTH || p.periodLength > MAX_PERIOD_LENGTH
            || p.periodLength % 1 hours != 0) {
            revert InvalidPolicy("periodLength");
        }
        if (p.budgetPerPeriod > type(uint40).max) revert InvalidPolicy("budgetPerPeriod");
        if (p.disputeWindow < MIN_DISPUTE_WINDOW || p.disputeWindow > MAX_DISPUTE_WINDOW) {
            revert InvalidPolicy("disputeWindow");
        }
        if (p.autoApprovalThreshold > p.perOrderCap) revert InvalidPolicy("autoApprovalThreshold");
        _autonomy = p.autonomy;
        _autoApprovalThreshold = p.autoApprovalThreshold;
        _perOrderCap = p.perOrderCap;
        b.budgetPerPeriod = uint40(p.budgetPerPeriod);
        b.periodHours = uint16(p.periodLength / 1 hours);
        _operatingReserve = p.operatingReserve;
        _disputeWindow = p.disputeWindow;
        emit PolicyChanged(p);
    }

    /// @dev Refill the budget bucket for the time since the last refill, at
    /// budgetPerPeriod per periodLength, up to budgetPerPeriod. Time too short to refill
    /// one base unit is kept for later rather than lost; a full bucket restarts the clock.
    function _refill(Books memory b) private view {
        // A node may stamp a block no later than the previous one: nothing to refill then.
        if (block.timestamp <= b.refilledAt) return;
        uint256 elapsed = block.timestamp - b.refilledAt;
        uint256 budget = b.budgetPerPeriod;
        if (b.budgetAvailable >= budget) {
            b.budgetAvailable = uint40(budget);
            b.refilledAt = uint32(block.timestamp);
            return;
        }
        uint256 refill = elapsed * budget / (uint256(b.periodHours) * 1 hours);
        if (refill == 0) return;
        uint256 next = b.budgetAvailable + refill;
        b.budgetAvailable = uint40(next > budget ? budget : next);
        b.refilledAt = uint32(block.timestamp);
    }

    function _spendBudget(Books memory b, uint256 amount) private view {
        _refill(b);
        if (amount > b.budgetAvailable) revert BudgetExceeded(amount, b.budgetAvailable);
        b.budgetAvailable -= uint40(amount);
    }

    /// @dev The day number (days since 1970-01-01 UTC) of `timestamp`, saturating.
    function _day(uint256 timestamp) private pure returns (uint16) {
        uint256 day = timestamp / 1 days;
        return day > type(uint16).max ? type(uint16).max : uint16(day);
    }

    /// @dev A stored deadline with paused time not counted: while paused it never falls;
    /// one that fell on or after the start of the last pause falls no earlier than
    /// RESUME_GRACE after the resume. Pauses less than RESUME_GRACE apart count as one.
    function _unpausedDeadline(uint256 deadline) private view returns (uint256) {
        if (paused()) return type(uint256).max;
        if (deadline < _pauseStart) return deadline;
        uint256 floor = uint256(_resumedAt) + RESUME_GRACE;
        return deadline > floor ? deadline : floor;
    }

    function _pause() internal override {
        if (block.timestamp >= uint256(_resumedAt) + RESUME_GRACE) _pauseStart = uint32(block.timestamp);
        super._pause();
    }

    function _unpause() internal override {
        _resumedAt = uint32(block.timestamp);
        super._unpause();
    }

    /// @dev End an unpaid order in `status` and release its reservation.
    function _release(bytes32 orderId, Order memory order, OrderStatus status) private {
        order.status = status;
        _storeOrder(orderId, order);
        Books memory b = _loadBooks();
        b.reserved -= order.amount;
        _storeBooks(b);
    }

    /// @dev Pay `paid` of `order` to its supplier and release the rest (effects before the transfer).
    function _settle(bytes32 orderId, Order memory order, uint256 paid) private {
        if (paid > order.amount) revert DeliveredTooMuch(paid, order.amount);
        _storeOrder(orderId, Order({
            supplier: order.supplier,
            amount: uint56(paid),
            time: uint32(block.timestamp),
            status: OrderStatus.Settled
        }));
        Books memory b = _loadBooks();
        b.reserved -= order.amount;
        b.treasury -= uint56(paid);
        _storeBooks(b);
        emit OrderSettled(orderId, order.supplier, paid, order.amount - paid);
        if (paid != 0) _token.safeTransfer(order.supplier, paid);
    }

    function _checkSignature(Quote calldata quote, bytes calldata signature) private view {
        bytes32 typehash = QUOTE_TYPEHASH;
        bytes32 structHash;
        // hashStruct(quote) = keccak256(typehash || the eight static fields as ABI words),
        // which is exactly the calldata of the (static) struct.
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, typehash)
            calldatacopy(add(m, 0x20), quote, 0x100)
            structHash := keccak256(m, 0x120)
        }
        bytes32 digest = _hashTypedDataV4(structHash);
        // An EOA's signature is checked first, so the common case needs no EXTCODESIZE
        // of the supplier; a contract wallet falls through to ERC-1271. ECDSA rejects high-s.
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, signature);
        if (err == ECDSA.RecoverError.NoError && recovered == quote.supplier) return;
        if (!SignatureChecker.isValidERC1271SignatureNow(quote.supplier, digest, signature)) {
            revert InvalidSignature(quote.supplier);
        }
    }
}
