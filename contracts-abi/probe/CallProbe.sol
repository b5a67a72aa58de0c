// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title CallProbe
/// @notice Never deployed. The gateway's preflight (src/escrow/preflight.ts)
/// places this code at the sender of a client's transaction with an
/// `eth_simulateV1` state override and calls it from that sender, so each of
/// the transaction's calls runs with the sender as `msg.sender`, one after the
/// other, inside one simulated transaction.
///
/// Why one transaction: a Tempo `0x76` transaction runs its calls in one
/// transaction, where what an earlier call touched (the allowance an approve
/// wrote, the balance the fee payment debited) is warm and dirty for the next.
/// Simulating each call as its own transaction charges those accesses again
/// (on anvil: 4,800 gas more on approve + open, 19,600 more when the fee is
/// paid in the token they spend).
///
/// What it reports: the gas each call consumed, measured with GAS around the
/// CALL; and whether the calls succeed within `budget`, the gas the
/// transaction leaves them (its limit minus intrinsic gas). Each call gets
/// exactly the budget that remains, as in the batch, so a call whose inner
/// calls need the 1/64 reserve (EIP-150) fails here as it would on chain.
///
/// It always reverts, with its result as the revert data: nothing it does is
/// kept, so two runs in one simulated block start from the same state.
contract CallProbe {
    struct Call {
        address target;
        bytes data;
    }

    /// Every call succeeded; `used[i]` is the gas the transaction's call `i` consumed.
    error Completed(uint256[] used);
    /// The transaction's call `index` failed (reverted, or ran out of the budget) with `reason`.
    error CallFailed(uint256 index, bytes reason);
    /// `prelude[index]` failed with `reason`.
    error PreludeFailed(uint256 index, bytes reason);

    /// @param prelude Calls run first and not measured: what the chain does
    /// before the transaction's calls (the fee payment).
    /// @param budget Gas for the transaction's calls; type(uint256).max for all
    /// there is (the EVM then passes each call all but 1/64 of what is left).
    /// @param calls First a call to an account without code, warm: its cost is
    /// the probe's own around a CALL, subtracted from every measurement. Then
    /// the transaction's calls, in order. Every target must be warm (access
    /// list), as the transaction's targets are.
    function run(Call[] calldata prelude, uint256 budget, Call[] calldata calls) external {
        for (uint256 i = 0; i < prelude.length; i++) {
            (bool done, bytes memory reason) = prelude[i].target.call(prelude[i].data);
            if (!done) revert PreludeFailed(i, reason);
        }
        uint256[] memory used = new uint256[](calls.length - 1);
        uint256 overhead;
        for (uint256 i = 0; i < calls.length; i++) {
            // Copied to memory before the measurement, so the CALL expands no memory.
            bytes memory data = calls[i].data;
            address target = calls[i].target;
            uint256 limit = budget;
            bool ok;
            uint256 spent;
            assembly {
                let start := gas()
                ok := call(limit, target, 0, add(data, 32), mload(data), 0, 0)
                spent := sub(start, gas())
            }
            if (i == 0) {
                overhead = spent;
                continue;
            }
            if (!ok) {
                bytes memory reason;
                assembly {
                    reason := mload(0x40)
                    mstore(reason, returndatasize())
                    returndatacopy(add(reason, 32), 0, returndatasize())
                    mstore(0x40, and(add(add(reason, 63), returndatasize()), not(31)))
                }
                revert CallFailed(i - 1, reason);
            }
            spent -= overhead;
            used[i - 1] = spent;
            // A call that succeeded within the budget spent no more than it.
            if (budget != type(uint256).max) budget -= spent;
        }
        revert Completed(used);
    }
}
