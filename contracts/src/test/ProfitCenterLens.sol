// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

interface IProfitCenterBooks {
    function currentBooks() external view returns (uint256, uint256, uint256, uint256, uint256);
    function totalClaimable() external view returns (uint256);
}

/// @title ProfitCenterLens: everything the property tests check after a step, in one call (test only)
contract ProfitCenterLens {
    /// @return out treasury, reserved, budget available, budget per period, refilled at,
    /// total claimable, tokens held by the ProfitCenter, then the token balance of each account.
    function snapshot(IProfitCenterBooks pc, IERC20 token, address[] calldata accounts)
        external
        view
        returns (uint256[] memory out)
    {
        out = new uint256[](7 + accounts.length);
        (out[0], out[1], out[2], out[3], out[4]) = pc.currentBooks();
        out[5] = pc.totalClaimable();
        out[6] = token.balanceOf(address(pc));
        for (uint256 i; i < accounts.length; ++i) {
            out[7 + i] = token.balanceOf(accounts[i]);
        }
    }
}
