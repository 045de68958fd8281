// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title FeeOnTransferToken: keeps 1% of every transfer (test only)
/// @notice Stands in for the fee-on-transfer tokens a ProfitCenter must refuse.
contract FeeOnTransferToken is ERC20 {
    constructor() ERC20("Fee Token", "FEE") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0)) {
            super._update(from, to, value);
            return;
        }
        uint256 fee = value / 100;
        super._update(from, address(0), fee);
        super._update(from, to, value - fee);
    }
}

/// @title Decimals18Token: an 18-decimal token, too wide for a ProfitCenter's books (test only)
contract Decimals18Token is ERC20 {
    constructor() ERC20("Wide Token", "WIDE") {}
}
