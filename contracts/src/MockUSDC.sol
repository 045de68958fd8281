// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title MockUSDC: a 6-decimal ERC-20 anyone can mint
/// @notice For tests and the demo only; never deploy it as a real settlement token.
contract MockUSDC is ERC20 {
    constructor() ERC20("Mock USD Coin", "mUSDC") {}

    /// @notice USDC has 6 decimals; so does this mock.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Create `amount` base units for `to` (open to anyone: test token).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
