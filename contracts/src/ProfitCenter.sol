// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @title ProfitCenter: the on-chain wallet of one machine customer
/// @notice Holds the machine's treasury in one settlement token, lets the machine's
/// agent key buy from allow-listed suppliers inside limits its governor sets, and
/// shares what is left above the operating reserve among members by share.
/// @dev Accounting of the treasury is internal (`treasury`), so placing an order
/// needs no `balanceOf` call. Money enters the treasury through `depositRevenue`;
/// tokens sent by a plain transfer are surplus that `distribute` recognises
/// (it compares `balanceOf` with treasury + unclaimed member balances). The
/// settlement token must be a plain ERC-20 (no fee on transfer, no rebasing) whose
/// amounts fit in 64 bits; policy limits fit in 48 bits (2.8e14 base units).
/// An order lives in one storage slot keyed by keccak256(abi.encode(supplier,
/// nonce)); a non-empty slot is what marks a quote nonce as used.
contract ProfitCenter is EIP712, Pausable, ReentrancyGuardTransient {
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
        NonceCancelled
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

    /// @notice One order, packed in one slot. `time` is the deliver-by deadline
    /// until the supplier marks delivery, then the time it did so, then (once
    /// settled) the settlement time. `amount` is the reserved amount, and once
    /// settled the amount paid.
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

    /// @notice The money the contract tracks, in one slot: treasury (owned by the
    /// machine), reserved for open orders, committed in the current budget period,
    /// the budget per period, and when the current period ends.
    struct Books {
        uint64 treasury;
        uint64 reserved;
        uint48 periodSpent;
        uint48 budgetPerPeriod;
        uint32 periodEnd;
    }

    /// @notice The EIP-712 type hash of `Quote` (contracts/quote.py QUOTE_TYPE_STRING).
    bytes32 public constant QUOTE_TYPEHASH = keccak256(
        "Quote(address supplier,address buyer,address token,uint256 amount,bytes32 itemsHash,uint64 deliverBy,uint64 expiry,uint256 nonce)"
    );
    /// @notice Upper bound on members, so that `distribute` always fits in a block.
    uint256 public constant MAX_MEMBERS = 50;

    // placeOrder reads three slots of its own: this one (shared with Pausable's
    // `_paused`), the books, and the supplier's allow-list entry (which holds the
    // token the supplier is allowed for, so the token slot stays cold).
    address private _agent;
    Autonomy private _autonomy;
    uint40 private _autoApprovalThreshold;
    uint40 private _perOrderCap;
    // One slot: the books (see Books).
    Books private _books;
    // One slot: what payments need; the period length is read only when a period rolls over.
    address private _token;
    uint32 private _periodLength;
    uint32 private _disputeWindow;
    // One slot: governance.
    address private _governor;
    uint64 private _operatingReserve;

    uint256 private _totalClaimable;
    uint256 private _totalShares;
    address[] private _members;
    mapping(address member => uint256) private _shares;
    mapping(address member => uint256) private _claimable;
    mapping(address supplier => address token) private _allowedSuppliers;
    mapping(bytes32 orderId => Order) private _orders;

    /// @notice The caller is not the governor.
    error NotGovernor(address caller);
    /// @notice The caller is not the agent.
    error NotAgent(address caller);
    /// @notice The caller is neither the governor nor the agent.
    error NotGovernorOrAgent(address caller);
    /// @notice The caller is not the order's supplier.
    error NotSupplier(bytes32 orderId, address caller);
    /// @notice An address that must be set is zero.
    error ZeroAddress();
    /// @notice An amount that must be positive is zero.
    error ZeroAmount();
    /// @notice A policy field is out of range (`field` names it).
    error InvalidPolicy(string field);
    /// @notice The quote is addressed to another buyer.
    error WrongBuyer(address buyer);
    /// @notice The quote (or deposit) is in another token than the settlement token.
    error WrongToken(address token);
    /// @notice The quote expired before it was placed.
    error QuoteExpired(uint64 expiry, uint256 timestamp);
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
    /// @notice The amount is above what is left of this period's budget.
    error BudgetExceeded(uint256 amount, uint256 available);
    /// @notice The treasury does not hold enough unreserved money.
    error InsufficientTreasury(uint256 amount, uint256 available);
    /// @notice The order is not in a status that allows this call.
    error WrongStatus(bytes32 orderId, OrderStatus status);
    /// @notice More was confirmed delivered than ordered.
    error DeliveredTooMuch(uint256 delivered, uint256 amount);
    /// @notice The dispute window is still open until `until`.
    error DisputeWindowOpen(uint256 until);
    /// @notice The dispute window closed at `closedAt`.
    error DisputeWindowClosed(uint256 closedAt);
    /// @notice The delivery deadline has not passed yet.
    error DeadlineNotReached(uint256 deliverBy);
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
    /// @notice The settlement token cannot change while money is held in it.
    error TokenInUse(uint256 treasury, uint256 reserved, uint256 claimable);

    /// @notice The agent key changed.
    event AgentChanged(address indexed previousAgent, address indexed newAgent);
    /// @notice The governor changed.
    event GovernorChanged(address indexed previousGovernor, address indexed newGovernor);
    /// @notice The policy changed.
    event PolicyChanged(Policy policy);
    /// @notice The settlement token changed.
    event SettlementTokenChanged(address indexed previousToken, address indexed newToken);
    /// @notice A supplier was added to or removed from the allow-list.
    event SupplierAllowed(address indexed supplier, bool allowed);
    /// @notice The agent placed an order from a signed quote; its amount is reserved.
    event OrderPlaced(
        bytes32 indexed orderId, address indexed supplier, uint256 nonce, uint256 amount, bool awaitingApproval
    );
    /// @notice The governor approved an order that waited for approval.
    event OrderApproved(bytes32 indexed orderId);
    /// @notice The governor rejected an order; its reservation is released.
    event OrderRejected(bytes32 indexed orderId, uint256 released);
    /// @notice The supplier declared the order delivered; the dispute window opened.
    event OrderDelivered(bytes32 indexed orderId, uint256 disputeUntil);
    /// @notice The agent disputed a delivery; the governor resolves it.
    event OrderDisputed(bytes32 indexed orderId);
    /// @notice The order was paid (`paid`) and the rest of its reservation released.
    event OrderSettled(bytes32 indexed orderId, address indexed supplier, uint256 paid, uint256 released);
    /// @notice An undelivered order passed its deadline; its reservation is released.
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

    modifier onlyGovernor() {
        if (msg.sender != _governor) revert NotGovernor(msg.sender);
        _;
    }

    modifier onlyAgent() {
        if (msg.sender != _agent) revert NotAgent(msg.sender);
        _;
    }

    modifier onlyGovernorOrAgent() {
        if (msg.sender != _governor && msg.sender != _agent) revert NotGovernorOrAgent(msg.sender);
        _;
    }

    /// @param governor_ The owners (EOA, multisig or Governor+Timelock).
    /// @param agent_ The machine's hot key.
    /// @param token_ The settlement token.
    /// @param policy_ The initial policy.
    constructor(address governor_, address agent_, address token_, Policy memory policy_)
        EIP712("custobot ProfitCenter", "1")
    {
        if (governor_ == address(0) || agent_ == address(0) || token_ == address(0)) revert ZeroAddress();
        _governor = governor_;
        _agent = agent_;
        _token = token_;
        _setPolicy(policy_);
        _books.periodEnd = SafeCast.toUint32(block.timestamp + policy_.periodLength);
        emit GovernorChanged(address(0), governor_);
        emit AgentChanged(address(0), agent_);
        emit SettlementTokenChanged(address(0), token_);
    }

    // ------------------------------------------------------------------ orders

    /// @notice Place an order from a supplier's signed quote and reserve its amount.
    /// @dev Only the agent. Depending on the autonomy level the order is open at once
    /// (and counted against the period budget) or waits for `approveOrder` (and counts
    /// against the budget of the period in which it is approved). Budget is a limit on
    /// commitments: a rejected order never used any, but a released or partly paid
    /// order does not give its budget back, so spending in a period never exceeds it.
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
        if (block.timestamp > quote.expiry) revert QuoteExpired(quote.expiry, block.timestamp);
        if (quote.deliverBy > type(uint32).max) revert DeadlineTooFar(quote.deliverBy);
        if (block.timestamp > quote.deliverBy) revert DeadlinePassed(quote.deliverBy, block.timestamp);
        uint256 amount = quote.amount;
        if (amount == 0) revert ZeroAmount();
        if (amount > _perOrderCap) revert ExceedsOrderCap(amount, _perOrderCap);
        address supplier = quote.supplier;
        address allowedToken = _allowedSuppliers[supplier];
        if (allowedToken != quote.token) {
            if (allowedToken == address(0) || allowedToken != _token) revert SupplierNotAllowed(supplier);
            revert WrongToken(quote.token);
        }

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
        if (!awaitingApproval) _spendBudget(b, amount);
        uint256 available = b.treasury - b.reserved;
        if (amount > available) revert InsufficientTreasury(amount, available);
        b.reserved += uint64(amount);
        _storeBooks(b);
        _storeOrder(orderId, Order({
            supplier: supplier,
            amount: uint56(amount),
            time: uint32(quote.deliverBy),
            status: awaitingApproval ? OrderStatus.AwaitingApproval : OrderStatus.Open
        }));
        emit OrderPlaced(orderId, supplier, quote.nonce, amount, awaitingApproval);
    }

    /// @notice Approve an order that waits for the governor; it counts against the budget now.
    function approveOrder(bytes32 orderId) external onlyGovernor whenNotPaused {
        Order memory order = _loadOrder(orderId);
        if (order.status != OrderStatus.AwaitingApproval) revert WrongStatus(orderId, order.status);
        if (block.timestamp > order.time) revert DeadlinePassed(order.time, block.timestamp);
        Books memory b = _loadBooks();
        _spendBudget(b, order.amount);
        _storeBooks(b);
        order.status = OrderStatus.Open;
        _storeOrder(orderId, order);
        emit OrderApproved(orderId);
    }

    /// @notice Reject an order that waits for the governor; its reservation is released.
    function rejectOrder(bytes32 orderId) external onlyGovernor {
        Order memory order = _loadOrder(orderId);
        if (order.status != OrderStatus.AwaitingApproval) revert WrongStatus(orderId, order.status);
        order.status = OrderStatus.Rejected;
        _storeOrder(orderId, order);
        Books memory b = _loadBooks();
        b.reserved -= order.amount;
        _storeBooks(b);
        emit OrderRejected(orderId, order.amount);
    }

    /// @notice The agent confirms what arrived and pays for it; the rest is released.
    /// @param amountDelivered What to pay the supplier (the full amount or less for a partial delivery).
    function confirmDelivery(bytes32 orderId, uint256 amountDelivered) external whenNotPaused onlyAgent nonReentrant {
        Order memory order = _loadOrder(orderId);
        if (order.status != OrderStatus.Open && order.status != OrderStatus.Delivered
            && order.status != OrderStatus.Disputed) revert WrongStatus(orderId, order.status);
        _settle(orderId, order, amountDelivered);
    }

    /// @notice The supplier declares an open order delivered; the dispute window starts.
    function markDelivered(bytes32 orderId) external whenNotPaused {
        Order memory order = _loadOrder(orderId);
        if (msg.sender != order.supplier) revert NotSupplier(orderId, msg.sender);
        if (order.status != OrderStatus.Open) revert WrongStatus(orderId, order.status);
        if (block.timestamp > order.time) revert DeadlinePassed(order.time, block.timestamp);
        _storeOrder(orderId, Order({
            supplier: order.supplier,
            amount: order.amount,
            time: uint32(block.timestamp),
            status: OrderStatus.Delivered
        }));
        emit OrderDelivered(orderId, block.timestamp + _disputeWindow);
    }

    /// @notice The supplier collects the full amount once the dispute window has passed undisputed.
    function claimPayment(bytes32 orderId) external whenNotPaused nonReentrant {
        Order memory order = _loadOrder(orderId);
        if (msg.sender != order.supplier) revert NotSupplier(orderId, msg.sender);
        if (order.status != OrderStatus.Delivered) revert WrongStatus(orderId, order.status);
        uint256 until = uint256(order.time) + _disputeWindow;
        if (block.timestamp < until) revert DisputeWindowOpen(until);
        _settle(orderId, order, order.amount);
    }

    /// @notice The agent disputes a delivery inside the dispute window; the governor decides.
    function dispute(bytes32 orderId) external whenNotPaused onlyAgent {
        Order memory order = _loadOrder(orderId);
        if (order.status != OrderStatus.Delivered) revert WrongStatus(orderId, order.status);
        uint256 until = uint256(order.time) + _disputeWindow;
        if (block.timestamp >= until) revert DisputeWindowClosed(until);
        order.status = OrderStatus.Disputed;
        _storeOrder(orderId, order);
        emit OrderDisputed(orderId);
    }

    /// @notice The governor settles a disputed order, paying the supplier `amountToSupplier`.
    function resolveDispute(bytes32 orderId, uint256 amountToSupplier) external onlyGovernor nonReentrant {
        Order memory order = _loadOrder(orderId);
        if (order.status != OrderStatus.Disputed) revert WrongStatus(orderId, order.status);
        _settle(orderId, order, amountToSupplier);
    }

    /// @notice Anyone may release an order that was not delivered (or approved) by its deadline.
    function releaseExpired(bytes32 orderId) external {
        Order memory order = _loadOrder(orderId);
        if (order.status != OrderStatus.Open && order.status != OrderStatus.AwaitingApproval) {
            revert WrongStatus(orderId, order.status);
        }
        if (block.timestamp <= order.time) revert DeadlineNotReached(order.time);
        order.status = OrderStatus.Released;
        _storeOrder(orderId, order);
        Books memory b = _loadBooks();
        b.reserved -= order.amount;
        _storeBooks(b);
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
    /// @dev The caller must have approved this contract first.
    function depositRevenue(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Books memory b = _loadBooks();
        b.treasury = SafeCast.toUint64(uint256(b.treasury) + amount);
        _storeBooks(b);
        emit RevenueDeposited(msg.sender, amount);
        IERC20(_token).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Make what is above the operating reserve and open reservations claimable by share.
    /// @dev Governor or agent. Tokens sent directly to the contract are recognised first.
    /// The last member receives the rounding remainder, so the whole amount is distributed.
    function distribute() external whenNotPaused onlyGovernorOrAgent {
        uint256 totalShares = _totalShares;
        if (totalShares == 0) revert NoMembers();
        Books memory b = _loadBooks();
        uint256 held = IERC20(_token).balanceOf(address(this));
        uint256 accounted = uint256(b.treasury) + _totalClaimable;
        if (held > accounted) {
            uint256 surplus = held - accounted;
            b.treasury = SafeCast.toUint64(uint256(b.treasury) + surplus);
            emit SurplusRecognized(surplus);
        }
        uint256 kept = uint256(b.reserved) + _operatingReserve;
        if (b.treasury <= kept) revert NothingToDistribute();
        uint256 amount = b.treasury - kept;
        b.treasury -= uint64(amount);
        _storeBooks(b);
        _totalClaimable += amount;
        uint256 count = _members.length;
        uint256 given;
        for (uint256 i; i < count - 1; ++i) {
            address member = _members[i];
            uint256 part = amount * _shares[member] / totalShares;
            _claimable[member] += part;
            given += part;
        }
        _claimable[_members[count - 1]] += amount - given;
        emit Distributed(amount);
    }

    /// @notice Withdraw the caller's claimable share of distributions.
    function claim() external whenNotPaused nonReentrant {
        uint256 amount = _claimable[msg.sender];
        if (amount == 0) revert NothingToClaim(msg.sender);
        _claimable[msg.sender] = 0;
        _totalClaimable -= amount;
        emit Claimed(msg.sender, amount);
        IERC20(_token).safeTransfer(msg.sender, amount);
    }

    // -------------------------------------------------------------- governance

    /// @notice Replace the whole policy. A new budget applies at once to the current
    /// period; a new period length applies from the next period on.
    function setPolicy(Policy calldata policy_) external onlyGovernor {
        _setPolicy(policy_);
    }

    /// @notice Allow or disallow a supplier, for the current settlement token.
    /// @dev The entry records the token, so changing the token disallows every supplier.
    function setSupplier(address supplier, bool allowed) external onlyGovernor {
        if (supplier == address(0)) revert ZeroAddress();
        _allowedSuppliers[supplier] = allowed ? _token : address(0);
        emit SupplierAllowed(supplier, allowed);
    }

    /// @notice Change the settlement token; only while no money is held or owed in the old one.
    /// Every supplier must be allowed again afterwards (allow-list entries are per token).
    function setSettlementToken(address token_) external onlyGovernor {
        if (token_ == address(0)) revert ZeroAddress();
        Books memory b = _loadBooks();
        if (b.treasury != 0 || b.reserved != 0 || _totalClaimable != 0) {
            revert TokenInUse(b.treasury, b.reserved, _totalClaimable);
        }
        emit SettlementTokenChanged(_token, token_);
        _token = token_;
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

    /// @notice Rotate the agent key.
    function setAgent(address agent_) external onlyGovernor {
        if (agent_ == address(0)) revert ZeroAddress();
        emit AgentChanged(_agent, agent_);
        _agent = agent_;
    }

    /// @notice Hand governance to another address (for example a Timelock).
    function setGovernor(address governor_) external onlyGovernor {
        if (governor_ == address(0)) revert ZeroAddress();
        emit GovernorChanged(_governor, governor_);
        _governor = governor_;
    }

    /// @notice Stop orders and payments. The agent may pull this emergency brake too.
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

    /// @notice The current policy.
    function policy() external view returns (Policy memory) {
        return Policy({
            autonomy: _autonomy,
            autoApprovalThreshold: _autoApprovalThreshold,
            perOrderCap: _perOrderCap,
            budgetPerPeriod: _books.budgetPerPeriod,
            periodLength: _periodLength,
            operatingReserve: _operatingReserve,
            disputeWindow: _disputeWindow
        });
    }

    /// @notice Treasury, reservations and the budget period, as of now (lazy reset applied).
    function currentBooks() external view returns (Books memory current) {
        current = _loadBooks();
        _rollPeriod(current);
    }

    /// @notice What the agent may still commit in the current period.
    function budgetLeft() external view returns (uint256) {
        Books memory current = _loadBooks();
        _rollPeriod(current);
        return current.periodSpent >= current.budgetPerPeriod ? 0 : current.budgetPerPeriod - current.periodSpent;
    }

    /// @notice The machine's hot key.
    function agent() external view returns (address) {
        return _agent;
    }

    /// @notice The owners' address.
    function governor() external view returns (address) {
        return _governor;
    }

    /// @notice The settlement token.
    function token() external view returns (address) {
        return _token;
    }

    /// @notice Whether `supplier` is on the allow-list for the current settlement token.
    function isSupplierAllowed(address supplier) external view returns (bool) {
        return _allowedSuppliers[supplier] == _token;
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
        b.treasury = uint64(word);
        b.reserved = uint64(word >> 64);
        b.periodSpent = uint48(word >> 128);
        b.budgetPerPeriod = uint48(word >> 176);
        b.periodEnd = uint32(word >> 224);
    }

    function _storeBooks(Books memory b) private {
        uint256 word = uint256(b.treasury) | (uint256(b.reserved) << 64) | (uint256(b.periodSpent) << 128)
            | (uint256(b.budgetPerPeriod) << 176) | (uint256(b.periodEnd) << 224);
        assembly ("memory-safe") {
            sstore(_books.slot, word)
        }
    }

    function _setPolicy(Policy memory p) private {
        if (p.periodLength == 0) revert InvalidPolicy("periodLength");
        if (p.autoApprovalThreshold > p.perOrderCap) revert InvalidPolicy("autoApprovalThreshold");
        _autonomy = p.autonomy;
        _autoApprovalThreshold = p.autoApprovalThreshold;
        _periodLength = p.periodLength;
        _perOrderCap = p.perOrderCap;
        _books.budgetPerPeriod = p.budgetPerPeriod;
        _operatingReserve = p.operatingReserve;
        _disputeWindow = p.disputeWindow;
        emit PolicyChanged(p);
    }

    /// @dev Start a new budget period if the current one is over. Periods stay aligned
    /// to the first one; the period length is read (cold) only here, once per period.
    function _rollPeriod(Books memory b) private view {
        if (block.timestamp < b.periodEnd) return;
        uint256 length = _periodLength;
        uint256 periodsOver = (block.timestamp - b.periodEnd) / length + 1;
        b.periodEnd = SafeCast.toUint32(b.periodEnd + periodsOver * length);
        b.periodSpent = 0;
    }

    function _spendBudget(Books memory b, uint256 amount) private view {
        _rollPeriod(b);
        uint256 available = b.periodSpent >= b.budgetPerPeriod ? 0 : b.budgetPerPeriod - b.periodSpent;
        if (amount > available) revert BudgetExceeded(amount, available);
        b.periodSpent += uint48(amount);
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
        b.treasury -= uint64(paid);
        _storeBooks(b);
        emit OrderSettled(orderId, order.supplier, paid, order.amount - paid);
        if (paid != 0) IERC20(_token).safeTransfer(order.supplier, paid);
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
