// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title TempoStreamChannel
/// @notice The project's own implementation of the v1 ("contract-backed")
/// session escrow of draft-tempo-session-00, written as a stand-in for the
/// `TempoStreamChannel` escrow deployed on Tempo networks (Moderato 42431:
/// 0x9d136eEa063eDE5418A6BC7bEafF009bBb6CFa70). Its ABI is the deployed one
/// item by item (mppx 0.11's legacy `escrowAbi`, checked by
/// test/escrow/abi.test.ts), not the spec's informative interface: the channel
/// struct starts with `finalized, closeRequestedAt`, `topUp` takes a uint256,
/// `ChannelOpened` carries the salt, and there is `eip712Domain()` (EIP-5267)
/// but no `CLOSE_REQUEST_TYPEHASH`/`getCloseRequestDigest`. The contract is
/// named `TempoStreamChannel` because the struct's ABI internal type names it.
///
/// Behaviour follows the deployed contract (checked against its bytecode):
/// - A closed channel (close or withdraw) is deleted and only `finalized`
///   stays set: `getChannel` then reads all zeros with `finalized == true`.
///   Its id can never be opened again, so old vouchers never meet a new deposit.
/// - Checks run in the deployed order: finalized, not found, caller, amounts,
///   signature. `settle` checks the deposit cap before monotonicity.
/// - `close` with `cumulativeAmount <= settled` checks no signature and closes
///   at `settled` (nothing new for the payee, so nothing to authorize; the whole
///   remainder goes back to the payer). Above `settled` a valid voucher is needed.
/// - `open` refuses a zero payee (InvalidPayee) and a zero deposit; `topUp`
///   refuses zero and an amount that would take the deposit past uint128
///   (DepositOverflow).
/// - On Tempo (pathUSD has code) `open` accepts only TIP-20 tokens (0x20c0…
///   prefix, with code). The deployed contract reverts with `ZeroDeposit()` and
///   `InvalidToken()`, errors its published ABI omits; this contract reverts with
///   the same selectors without declaring them, so its ABI stays the deployed one.
///   Elsewhere (a plain EVM chain, e.g. the tests' ERC-20) any token is accepted.
/// - A token call that reverts bubbles the token's own revert data (as the
///   deployed contract's high-level TIP-20 calls do); one that returns false,
///   returns garbage, or hits an address without code reverts TransferFailed.
/// - Events are emitted after the token transfers, as deployed; `withdraw`
///   emits `ChannelExpired` then `ChannelClosed`.
/// - `requestClose` on a channel with a pending request keeps the original
///   timestamp and emits nothing; `settle`/`close` stay possible during and
///   after the grace period until the payer calls `withdraw`.
/// - `ChannelClosed.settledToPayee` is the channel's final cumulative amount
///   paid to the payee over its whole life (settledToPayee + refundedToPayer ==
///   deposit), on both the cooperative and the forced path.
///
/// One deliberate difference: voucher signatures must be canonical (low s, v
/// 27/28, 65 bytes or EIP-2098 64 bytes), as the spec requires. The deployed
/// contract (solady ECDSA) also accepts the high-s twin of a valid signature.
contract TempoStreamChannel {
    struct Channel {
        bool finalized;
        uint64 closeRequestedAt;
        address payer;
        address payee;
        address token;
        address authorizedSigner;
        uint128 deposit;
        uint128 settled;
    }

    bytes32 public constant VOUCHER_TYPEHASH =
        keccak256("Voucher(bytes32 channelId,uint128 cumulativeAmount)");

    uint64 public constant CLOSE_GRACE_PERIOD = 15 minutes;

    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    string private constant NAME = "Tempo Stream Channel";
    string private constant VERSION = "1";

    /// secp256k1 order / 2: signatures with a larger `s` are the malleable twin
    /// of a canonical one and are rejected.
    uint256 private constant HALF_ORDER =
        0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    /// pathUSD: its code tells a Tempo chain from a plain EVM one.
    address private constant PATH_USD = 0x20C0000000000000000000000000000000000000;
    bytes12 private constant TIP20_PREFIX = bytes12(0x20c000000000000000000000);

    /// Errors the deployed contract reverts with but its published ABI omits.
    bytes4 private constant ZERO_DEPOSIT = bytes4(keccak256("ZeroDeposit()"));
    bytes4 private constant INVALID_TOKEN = bytes4(keccak256("InvalidToken()"));

    mapping(bytes32 => Channel) public channels;

    event ChannelOpened(
        bytes32 indexed channelId,
        address indexed payer,
        address indexed payee,
        address token,
        address authorizedSigner,
        bytes32 salt,
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

    event CloseRequestCancelled(bytes32 indexed channelId, address indexed payer, address indexed payee);

    event ChannelExpired(bytes32 indexed channelId, address indexed payer, address indexed payee);

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
    error InvalidPayee();
    error DepositOverflow();

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
        if (payee == address(0)) revert InvalidPayee();
        if (!_acceptsToken(token)) _revertUndeclared(INVALID_TOKEN);
        if (deposit == 0) _revertUndeclared(ZERO_DEPOSIT);

        channelId = computeChannelId(msg.sender, payee, token, salt, authorizedSigner);
        Channel storage existing = channels[channelId];
        if (existing.payer != address(0) || existing.finalized) revert ChannelAlreadyExists();

        channels[channelId] = Channel({
            finalized: false,
            closeRequestedAt: 0,
            payer: msg.sender,
            payee: payee,
            token: token,
            authorizedSigner: authorizedSigner,
            deposit: deposit,
            settled: 0
        });

        _pull(token, msg.sender, deposit);

        emit ChannelOpened(channelId, msg.sender, payee, token, authorizedSigner, salt, deposit);
    }

    /// @notice Payee claims `cumulativeAmount - settled` with a voucher; the
    /// channel stays open.
    function settle(bytes32 channelId, uint128 cumulativeAmount, bytes calldata signature) external {
        Channel storage ch = _live(channelId);
        if (msg.sender != ch.payee) revert NotPayee();
        if (cumulativeAmount > ch.deposit) revert AmountExceedsDeposit();
        if (cumulativeAmount <= ch.settled) revert AmountNotIncreasing();
        _verifyVoucher(ch, channelId, cumulativeAmount, signature);

        uint128 delta = cumulativeAmount - ch.settled;
        ch.settled = cumulativeAmount;

        _push(ch.token, ch.payee, delta);

        emit Settled(channelId, ch.payer, ch.payee, cumulativeAmount, delta, cumulativeAmount);
    }

    /// @notice Payer adds funds. Cancels a pending close request: a payer who
    /// tops up wants the channel to live on.
    function topUp(bytes32 channelId, uint256 additionalDeposit) external {
        Channel storage ch = _live(channelId);
        if (msg.sender != ch.payer) revert NotPayer();
        if (additionalDeposit == 0) _revertUndeclared(ZERO_DEPOSIT);
        // Deposits are uint128 on chain; the argument is uint256 as deployed.
        if (additionalDeposit > type(uint128).max - ch.deposit) revert DepositOverflow();

        uint128 newDeposit = ch.deposit + uint128(additionalDeposit);
        ch.deposit = newDeposit;

        _pull(ch.token, msg.sender, additionalDeposit);

        if (ch.closeRequestedAt != 0) {
            ch.closeRequestedAt = 0;
            emit CloseRequestCancelled(channelId, ch.payer, ch.payee);
        }
        emit TopUp(channelId, ch.payer, ch.payee, additionalDeposit, newDeposit);
    }

    /// @notice Payee closes: pays itself up to `cumulativeAmount` (at least what
    /// is settled), refunds the rest of the deposit to the payer, finalizes.
    function close(bytes32 channelId, uint128 cumulativeAmount, bytes calldata signature) external {
        Channel storage ch = _live(channelId);
        if (msg.sender != ch.payee) revert NotPayee();

        address token = ch.token;
        address payer = ch.payer;
        address payee = ch.payee;
        uint128 deposit = ch.deposit;
        uint128 finalAmount = ch.settled;
        uint128 delta = 0;
        // See the contract comment: at or below `settled` there is nothing to authorize.
        if (cumulativeAmount > finalAmount) {
            if (cumulativeAmount > deposit) revert AmountExceedsDeposit();
            _verifyVoucher(ch, channelId, cumulativeAmount, signature);
            delta = cumulativeAmount - finalAmount;
            finalAmount = cumulativeAmount;
        }

        uint128 refund = deposit - finalAmount;
        _finalize(channelId);

        if (delta != 0) _push(token, payee, delta);
        if (refund != 0) _push(token, payer, refund);

        emit ChannelClosed(channelId, payer, payee, finalAmount, refund);
    }

    /// @notice Payer starts the forced close; `withdraw` opens after the grace period.
    function requestClose(bytes32 channelId) external {
        Channel storage ch = _live(channelId);
        if (msg.sender != ch.payer) revert NotPayer();
        if (ch.closeRequestedAt != 0) return;

        ch.closeRequestedAt = uint64(block.timestamp);
        emit CloseRequested(channelId, ch.payer, ch.payee, block.timestamp + CLOSE_GRACE_PERIOD);
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

        address token = ch.token;
        address payer = ch.payer;
        address payee = ch.payee;
        uint128 settled = ch.settled;
        uint128 refund = ch.deposit - settled;
        _finalize(channelId);

        if (refund != 0) _push(token, payer, refund);

        emit ChannelExpired(channelId, payer, payee);
        emit ChannelClosed(channelId, payer, payee, settled, refund);
    }

    // ----------------------------------------------------------------- views

    /// @notice The stored channel: all zeros if it never existed, all zeros but
    /// `finalized` once closed.
    function getChannel(bytes32 channelId) external view returns (Channel memory) {
        return channels[channelId];
    }

    function getChannelsBatch(bytes32[] calldata channelIds) external view returns (Channel[] memory channelStates) {
        uint256 length = channelIds.length;
        channelStates = new Channel[](length);
        for (uint256 i = 0; i < length; ++i) {
            channelStates[i] = channels[channelIds[i]];
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
        return keccak256(
            abi.encodePacked("\x19\x01", domainSeparator(), keccak256(abi.encode(VOUCHER_TYPEHASH, channelId, cumulativeAmount)))
        );
    }

    /// @notice Computed on every call (not cached) so it always reflects the
    /// current chain id and this contract's own address.
    function domainSeparator() public view returns (bytes32) {
        return keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256(bytes(NAME)), keccak256(bytes(VERSION)), block.chainid, address(this))
        );
    }

    /// @notice EIP-5267: name, version, chainId and verifyingContract are set (0x0f).
    function eip712Domain()
        external
        view
        returns (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        )
    {
        return (hex"0f", NAME, VERSION, block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    // -------------------------------------------------------------- internal

    /// Loads a channel that exists and is not finalized (the deployed order of checks).
    function _live(bytes32 channelId) private view returns (Channel storage ch) {
        ch = channels[channelId];
        if (ch.finalized) revert ChannelFinalized();
        if (ch.payer == address(0)) revert ChannelNotFound();
    }

    /// Deletes a closed channel, keeping only its tombstone.
    function _finalize(bytes32 channelId) private {
        delete channels[channelId];
        channels[channelId].finalized = true;
    }

    /// TIP-20 only where pathUSD exists (a Tempo chain); any token elsewhere.
    function _acceptsToken(address token) private view returns (bool) {
        if (PATH_USD.code.length == 0) return true;
        return bytes12(bytes20(token)) == TIP20_PREFIX && token.code.length != 0;
    }

    /// Reverts with a custom error's selector without declaring the error.
    function _revertUndeclared(bytes4 selector) private pure {
        assembly {
            mstore(0, selector)
            revert(0, 4)
        }
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

    function _pull(address token, address from, uint256 amount) private {
        _call(token, abi.encodeWithSignature("transferFrom(address,address,uint256)", from, address(this), amount));
    }

    function _push(address token, address to, uint256 amount) private {
        _call(token, abi.encodeWithSignature("transfer(address,uint256)", to, amount));
    }

    /// Calls a token and requires success: either `true` returned, or no return
    /// data from an address that has code (tokens that return nothing). A token
    /// that reverts with data has its revert passed on unchanged. A call to an
    /// address without code "succeeds" in the EVM, hence the code check.
    function _call(address token, bytes memory data) private {
        (bool ok, bytes memory ret) = token.call(data);
        if (!ok) {
            if (ret.length != 0) {
                assembly {
                    revert(add(ret, 32), mload(ret))
                }
            }
            revert TransferFailed();
        }
        if (ret.length == 0) {
            if (token.code.length == 0) revert TransferFailed();
        } else if (ret.length != 32 || abi.decode(ret, (uint256)) != 1) {
            revert TransferFailed();
        }
    }
}
