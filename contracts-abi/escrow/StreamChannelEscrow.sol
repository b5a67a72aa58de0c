// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title StreamChannelEscrow
/// @notice The project's own implementation of the v1 ("contract-backed")
/// session escrow of draft-tempo-session-00: the ITempoStreamChannel interface
/// of the spec's appendix, with the same function selectors, events and custom
/// errors, so a server written against that interface works unchanged.
///
/// Decisions the spec leaves open, and what this contract does:
/// - Grace period: CLOSE_GRACE_PERIOD is 15 minutes, the spec's value.
/// - `close` with `cumulativeAmount == settled`: allowed, and the signature is
///   NOT checked in that case. The spec requires signature checks to stop a
///   payee from taking payer funds without the payer's consent; a close that
///   pays the payee nothing new and refunds the whole remainder to the payer
///   moves no payer funds to the payee, so there is nothing to authorize. It
///   lets the payee release an unused channel without waiting for the payer's
///   forced close. Any `cumulativeAmount > settled` always needs a valid
///   voucher signature.
/// - `requestClose` on a channel with a pending request keeps the original
///   timestamp (re-requesting must not push the payee's deadline around) and
///   emits nothing.
/// - `settle` and `close` stay possible while a close request is pending and
///   after its grace period, until the payer calls `withdraw` (the spec: "Server
///   can still settle() or close() during grace period").
/// - `ChannelClosed.settledToPayee` is the channel's final cumulative amount paid
///   to the payee over its whole life (so settledToPayee + refundedToPayer ==
///   deposit), on both the cooperative and the forced path.
/// - CLOSE_REQUEST_TYPEHASH: the spec names the function but not the type
///   string; this contract uses `CloseRequest(bytes32 channelId,uint64 requestedAt)`,
///   matching the arguments of `getCloseRequestDigest`. No function consumes it.
/// - `topUp` accepts 0: a payer can cancel its own close request without adding funds.
/// - A finalized channel keeps its record, so its id can never be opened again
///   and old vouchers can never be replayed against a new deposit.
contract StreamChannelEscrow {
    struct Channel {
        address payer;
        address payee;
        address token;
        address authorizedSigner;
        uint128 deposit;
        uint128 settled;
        uint64 closeRequestedAt;
        bool finalized;
    }

    uint64 public constant CLOSE_GRACE_PERIOD = 15 minutes;

    bytes32 public constant VOUCHER_TYPEHASH =
        keccak256("Voucher(bytes32 channelId,uint128 cumulativeAmount)");

    bytes32 public constant CLOSE_REQUEST_TYPEHASH =
        keccak256("CloseRequest(bytes32 channelId,uint64 requestedAt)");

    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("Tempo Stream Channel");
    bytes32 private constant VERSION_HASH = keccak256("1");

    /// secp256k1 order / 2: signatures with a larger `s` are the malleable twin
    /// of a canonical one and are rejected.
    uint256 private constant HALF_ORDER =
        0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    mapping(bytes32 => Channel) private channels;

    event ChannelOpened(
        bytes32 indexed channelId,
        address indexed payer,
        address indexed payee,
        address token,
        address authorizedSigner,
        uint256 deposit
    );

    event Settled(
        bytes32 indexed channelId,
        address indexed payer,
        address indexed payee,
        uint256 cumulativeAmount,
        uint256 deltaPaid,
        uint256 newSettled
    );

    event CloseRequested(
        bytes32 indexed channelId,
        address indexed payer,
        address indexed payee,
        uint256 closeGraceEnd
    );

    event CloseRequestCancelled(
        bytes32 indexed channelId,
        address indexed payer,
        address indexed payee
    );

    event TopUp(
        bytes32 indexed channelId,
        address indexed payer,
        address indexed payee,
        uint256 additionalDeposit,
        uint256 newDeposit
    );

    event ChannelClosed(
        bytes32 indexed channelId,
        address indexed payer,
        address indexed payee,
        uint256 settledToPayee,
        uint256 refundedToPayer
    );

    error ChannelAlreadyExists();
    error ChannelNotFound();
    error ChannelFinalized();
    error InvalidSignature();
    error AmountExceedsDeposit();
    error AmountNotIncreasing();
    error NotPayer();
    error NotPayee();
    error TransferFailed();
    error CloseNotReady();

    // ---------------------------------------------------------------- writes

    /// @notice Opens a channel funded by the caller (the payer). The caller must
    /// have approved this contract for `deposit` on `token` beforehand.
    function open(
        address payee,
        address token,
        uint128 deposit,
        bytes32 salt,
        address authorizedSigner
    ) external returns (bytes32 channelId) {
        channelId = computeChannelId(msg.sender, payee, token, salt, authorizedSigner);
        if (channels[channelId].payer != address(0)) revert ChannelAlreadyExists();

        channels[channelId] = Channel({
            payer: msg.sender,
            payee: payee,
            token: token,
            authorizedSigner: authorizedSigner,
            deposit: deposit,
            settled: 0,
            closeRequestedAt: 0,
            finalized: false
        });

        emit ChannelOpened(channelId, msg.sender, payee, token, authorizedSigner, deposit);

        _pull(token, msg.sender, deposit);
    }

    /// @notice Payee claims `cumulativeAmount - settled` with a voucher; the
    /// channel stays open.
    function settle(bytes32 channelId, uint128 cumulativeAmount, bytes calldata signature) external {
        Channel storage ch = _live(channelId);
        if (msg.sender != ch.payee) revert NotPayee();
        if (cumulativeAmount <= ch.settled) revert AmountNotIncreasing();
        if (cumulativeAmount > ch.deposit) revert AmountExceedsDeposit();
        _verifyVoucher(ch, channelId, cumulativeAmount, signature);

        uint128 delta = cumulativeAmount - ch.settled;
        ch.settled = cumulativeAmount;

        emit Settled(channelId, ch.payer, ch.payee, cumulativeAmount, delta, cumulativeAmount);

        _push(ch.token, ch.payee, delta);
    }

    /// @notice Payer adds funds. Cancels a pending close request: a payer who
    /// tops up wants the channel to live on.
    function topUp(bytes32 channelId, uint128 additionalDeposit) external {
        Channel storage ch = _live(channelId);
        if (msg.sender != ch.payer) revert NotPayer();

        // Checked arithmetic: an overflowing deposit reverts with a panic.
        uint128 newDeposit = ch.deposit + additionalDeposit;
        ch.deposit = newDeposit;

        if (ch.closeRequestedAt != 0) {
            ch.closeRequestedAt = 0;
            emit CloseRequestCancelled(channelId, ch.payer, ch.payee);
        }
        emit TopUp(channelId, ch.payer, ch.payee, additionalDeposit, newDeposit);

        _pull(ch.token, msg.sender, additionalDeposit);
    }

    /// @notice Payee closes: pays itself up to `cumulativeAmount`, refunds the
    /// rest of the deposit to the payer, finalizes.
    function close(bytes32 channelId, uint128 cumulativeAmount, bytes calldata signature) external {
        Channel storage ch = _live(channelId);
        if (msg.sender != ch.payee) revert NotPayee();
        if (cumulativeAmount < ch.settled) revert AmountNotIncreasing();
        if (cumulativeAmount > ch.deposit) revert AmountExceedsDeposit();
        // See the contract comment: nothing new for the payee, nothing to authorize.
        if (cumulativeAmount > ch.settled) {
            _verifyVoucher(ch, channelId, cumulativeAmount, signature);
        }

        uint128 delta = cumulativeAmount - ch.settled;
        uint128 refund = ch.deposit - cumulativeAmount;
        ch.settled = cumulativeAmount;
        ch.finalized = true;

        emit ChannelClosed(channelId, ch.payer, ch.payee, cumulativeAmount, refund);

        if (delta != 0) _push(ch.token, ch.payee, delta);
        if (refund != 0) _push(ch.token, ch.payer, refund);
    }

    /// @notice Payer starts the forced close; `withdraw` opens after the grace period.
    function requestClose(bytes32 channelId) external {
        Channel storage ch = _live(channelId);
        if (msg.sender != ch.payer) revert NotPayer();
        if (ch.closeRequestedAt != 0) return;

        uint64 nowTs = uint64(block.timestamp);
        ch.closeRequestedAt = nowTs;
        emit CloseRequested(channelId, ch.payer, ch.payee, uint256(nowTs) + CLOSE_GRACE_PERIOD);
    }

    /// @notice Payer takes back everything not settled, once the grace period
    /// after `requestClose` has passed.
    function withdraw(bytes32 channelId) external {
        Channel storage ch = _live(channelId);
        if (msg.sender != ch.payer) revert NotPayer();
        uint64 requestedAt = ch.closeRequestedAt;
        if (requestedAt == 0 || block.timestamp < uint256(requestedAt) + CLOSE_GRACE_PERIOD) {
            revert CloseNotReady();
        }

        uint128 refund = ch.deposit - ch.settled;
        ch.finalized = true;

        emit ChannelClosed(channelId, ch.payer, ch.payee, ch.settled, refund);

        if (refund != 0) _push(ch.token, ch.payer, refund);
    }

    // ----------------------------------------------------------------- views

    /// @notice Returns the stored channel; an all-zero struct if it never existed.
    function getChannel(bytes32 channelId) external view returns (Channel memory) {
        return channels[channelId];
    }

    function getChannelsBatch(bytes32[] calldata channelIds) external view returns (Channel[] memory out) {
        out = new Channel[](channelIds.length);
        for (uint256 i = 0; i < channelIds.length; i++) {
            out[i] = channels[channelIds[i]];
        }
    }

    function computeChannelId(
        address payer,
        address payee,
        address token,
        bytes32 salt,
        address authorizedSigner
    ) public view returns (bytes32) {
        return keccak256(abi.encode(payer, payee, token, salt, authorizedSigner, address(this), block.chainid));
    }

    function getVoucherDigest(bytes32 channelId, uint128 cumulativeAmount) public view returns (bytes32) {
        return _typedDigest(keccak256(abi.encode(VOUCHER_TYPEHASH, channelId, cumulativeAmount)));
    }

    function getCloseRequestDigest(bytes32 channelId, uint64 requestedAt) external view returns (bytes32) {
        return _typedDigest(keccak256(abi.encode(CLOSE_REQUEST_TYPEHASH, channelId, requestedAt)));
    }

    /// @notice Computed on every call (not cached) so it always reflects the
    /// current chain id and this contract's own address.
    function domainSeparator() public view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    // -------------------------------------------------------------- internal

    /// Loads a channel that exists and is not finalized.
    function _live(bytes32 channelId) private view returns (Channel storage ch) {
        ch = channels[channelId];
        if (ch.payer == address(0)) revert ChannelNotFound();
        if (ch.finalized) revert ChannelFinalized();
    }

    function _typedDigest(bytes32 structHash) private view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    function _verifyVoucher(
        Channel storage ch,
        bytes32 channelId,
        uint128 cumulativeAmount,
        bytes calldata signature
    ) private view {
        address expected = ch.authorizedSigner != address(0) ? ch.authorizedSigner : ch.payer;
        address signer = _recover(getVoucherDigest(channelId, cumulativeAmount), signature);
        if (signer == address(0) || signer != expected) revert InvalidSignature();
    }

    /// Recovers the signer of `digest`; returns address(0) for any malformed or
    /// non-canonical signature so the caller reverts with one error.
    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address) {
        bytes32 r;
        bytes32 s;
        uint8 v;
        if (signature.length == 65) {
            r = bytes32(signature[0:32]);
            s = bytes32(signature[32:64]);
            v = uint8(signature[64]);
        } else if (signature.length == 64) {
            // EIP-2098 compact: the top bit of the second word is yParity.
            r = bytes32(signature[0:32]);
            bytes32 vs = bytes32(signature[32:64]);
            s = vs & bytes32(0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff);
            v = uint8(uint256(vs) >> 255) + 27;
        } else {
            return address(0);
        }
        if (uint256(s) > HALF_ORDER) return address(0);
        if (v != 27 && v != 28) return address(0);
        return ecrecover(digest, v, r, s);
    }

    function _pull(address token, address from, uint128 amount) private {
        _call(token, abi.encodeWithSignature("transferFrom(address,address,uint256)", from, address(this), uint256(amount)));
    }

    function _push(address token, address to, uint128 amount) private {
        _call(token, abi.encodeWithSignature("transfer(address,uint256)", to, uint256(amount)));
    }

    /// Calls a token and requires success: either `true` returned, or no return
    /// data from an address that has code (tokens that return nothing). A call
    /// to an address without code "succeeds" in the EVM, hence the code check.
    function _call(address token, bytes memory data) private {
        (bool ok, bytes memory ret) = token.call(data);
        if (!ok) revert TransferFailed();
        if (ret.length == 0) {
            if (token.code.length == 0) revert TransferFailed();
        } else if (ret.length != 32 || abi.decode(ret, (uint256)) != 1) {
            revert TransferFailed();
        }
    }
}
