// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title TIP20ChannelReserve (test stand-in)
/// @notice A stand-in for the TIP-20 channel reserve precompile of TIP-1034,
/// for local anvils that do not have it. Its runtime code is installed at the
/// precompile's address (0x4d50…) with `anvil_setCode`; nothing is constructed,
/// so it reads only constants and storage that starts empty, as the
/// precompile's does. Its ABI is the precompile's exactly (viem's
/// `Abis.tip20ChannelReserve`, checked by a test).
///
/// Same as the precompile: channel ids, the EIP-712 voucher digest, the packed
/// state slot (mapping at slot 0: settled bits 0–95, deposit 96–191,
/// closeRequestedAt 192–223; a closed channel has no slot), access control,
/// amount rules, events and errors, and voucher signatures checked by the
/// TIP-1020 verifier precompile (so anvil must run hardfork t3 or later).
///
/// Where it differs, because a contract cannot do what the node does:
/// - `expiringNonceHash`: the node hands the open transaction's hash to the
///   precompile; a contract cannot see its transaction. Here `open` reads it
///   from `openContexts[keccak256(abi.encode(payer, salt))]` (slot 2), which the
///   test RPC proxy writes before forwarding the transaction, and deletes it.
///   So a second `open` with the same payer and salt in one transaction fails
///   with ExpiringNonceHashNotSet (the node would accept it for another payee),
///   and an `open` that reaches anvil without the proxy fails the same way.
///   This also gives the node's rule that one transaction cannot reopen a
///   channel id it closed.
/// - Moving TIP-20 without approval: the node's system transfer is not callable
///   by a contract; this contract calls `transferFrom`, and the proxy writes the
///   allowance it needs before the transaction runs.
/// - Not modelled: TIP-403 checks on the logical payer → payee path (the token's
///   own transfer checks still apply), virtual-address payees, storage credits
///   (`storageCredits` reads a slot nothing writes, so 0), and the node's error
///   for a token that is not a TIP-20 (here the token call itself fails).
///   `RootKeyRetired` is declared for ABI equality and never raised.
contract TIP20ChannelReserve {
    struct ChannelDescriptor {
        address payer;
        address payee;
        address operator;
        address token;
        bytes32 salt;
        address authorizedSigner;
        bytes32 expiringNonceHash;
    }

    struct ChannelState {
        uint96 settled;
        uint96 deposit;
        uint32 closeRequestedAt;
    }

    struct Channel {
        ChannelDescriptor descriptor;
        ChannelState state;
    }

    event ChannelOpened(
        bytes32 indexed channelId,
        address indexed payer,
        address indexed payee,
        address operator,
        address token,
        address authorizedSigner,
        bytes32 salt,
        bytes32 expiringNonceHash,
        uint96 deposit
    );
    event Settled(
        bytes32 indexed channelId,
        address indexed payer,
        address indexed payee,
        uint96 cumulativeAmount,
        uint96 deltaPaid,
        uint96 newSettled
    );
    event TopUp(
        bytes32 indexed channelId, address indexed payer, address indexed payee, uint96 additionalDeposit, uint96 newDeposit
    );
    event CloseRequested(bytes32 indexed channelId, address indexed payer, address indexed payee, uint256 closeGraceEnd);
    event ChannelClosed(
        bytes32 indexed channelId, address indexed payer, address indexed payee, uint96 settledToPayee, uint96 refundedToPayer
    );
    event CloseRequestCancelled(bytes32 indexed channelId, address indexed payer, address indexed payee);

    error ChannelAlreadyExists();
    error ChannelNotFound();
    error NotPayer();
    error NotPayeeOrOperator();
    error InvalidPayee();
    error ZeroDeposit();
    error ExpiringNonceHashNotSet();
    error InvalidSignature();
    error AmountExceedsDeposit();
    error AmountNotIncreasing();
    error CaptureAmountInvalid();
    error CloseNotReady();
    error DepositOverflow();
    error RootKeyRetired(address account);

    uint64 public constant CLOSE_GRACE_PERIOD = 900;
    bytes32 public constant VOUCHER_TYPEHASH = keccak256("Voucher(bytes32 channelId,uint96 cumulativeAmount)");

    /// The precompile's own address: channel ids and the voucher domain use it
    /// (not `address(this)`, which is the same once installed).
    address private constant RESERVE = 0x4d50500000000000000000000000000000000000;
    /// TIP-1020 signature verifier precompile (anvil hardfork t3 and later).
    address private constant SIGNATURE_VERIFIER = 0x5165300000000000000000000000000000000000;
    /// TIP-20 token addresses start with these 12 bytes; such an address cannot be a payee.
    bytes12 private constant TIP20_PREFIX = 0x20c000000000000000000000;

    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("TIP20 Channel Reserve");
    bytes32 private constant VERSION_HASH = keccak256("1");

    uint256 private constant DEPOSIT_SHIFT = 96;
    uint256 private constant CLOSE_REQUESTED_AT_SHIFT = 192;

    /// Slot 0: packed ChannelState by channel id, as the precompile stores it.
    mapping(bytes32 => uint256) private channelStates;
    /// Slot 1: the precompile's storage credits by payer (not modelled: never written).
    mapping(address => uint64) private channelStorageCredits;
    /// Slot 2 (stand-in only): the open transaction's expiringNonceHash by
    /// keccak256(abi.encode(payer, salt)), written by the test RPC proxy.
    mapping(bytes32 => bytes32) private openContexts;

    function open(address payee, address operator, address token, uint96 deposit, bytes32 salt, address authorizedSigner)
        external
        returns (bytes32 channelId)
    {
        if (payee == address(0) || bytes12(bytes20(payee)) == TIP20_PREFIX) revert InvalidPayee();
        if (deposit == 0) revert ZeroDeposit();

        bytes32 contextKey = keccak256(abi.encode(msg.sender, salt));
        bytes32 expiringNonceHash = openContexts[contextKey];
        if (expiringNonceHash == bytes32(0)) revert ExpiringNonceHashNotSet();
        delete openContexts[contextKey];

        channelId = computeChannelId(msg.sender, payee, operator, token, salt, authorizedSigner, expiringNonceHash);
        if (channelStates[channelId] != 0) revert ChannelAlreadyExists();

        channelStates[channelId] = pack(ChannelState({settled: 0, deposit: deposit, closeRequestedAt: 0}));
        pull(token, msg.sender, deposit);

        emit ChannelOpened(
            channelId, msg.sender, payee, operator, token, authorizedSigner, salt, expiringNonceHash, deposit
        );
    }

    function settle(ChannelDescriptor calldata descriptor, uint96 cumulativeAmount, bytes calldata signature) external {
        bytes32 channelId = idOf(descriptor);
        ChannelState memory state = load(channelId);
        onlyPayeeOrOperator(descriptor);
        if (cumulativeAmount > state.deposit) revert AmountExceedsDeposit();
        if (cumulativeAmount <= state.settled) revert AmountNotIncreasing();
        checkVoucher(descriptor, channelId, cumulativeAmount, signature);

        uint96 delta = cumulativeAmount - state.settled;
        state.settled = cumulativeAmount;
        channelStates[channelId] = pack(state);
        pay(descriptor.token, descriptor.payee, delta);

        emit Settled(channelId, descriptor.payer, descriptor.payee, cumulativeAmount, delta, cumulativeAmount);
    }

    /// A zero top-up only cancels a pending close request (and is a no-op without one).
    function topUp(ChannelDescriptor calldata descriptor, uint96 additionalDeposit) external {
        bytes32 channelId = idOf(descriptor);
        ChannelState memory state = load(channelId);
        if (msg.sender != descriptor.payer) revert NotPayer();
        bool cancelsCloseRequest = state.closeRequestedAt != 0;
        if (additionalDeposit == 0 && !cancelsCloseRequest) return;

        if (additionalDeposit != 0) {
            uint256 newDeposit = uint256(state.deposit) + additionalDeposit;
            if (newDeposit > type(uint96).max) revert DepositOverflow();
            state.deposit = uint96(newDeposit);
            pull(descriptor.token, msg.sender, additionalDeposit);
        }
        state.closeRequestedAt = 0;
        channelStates[channelId] = pack(state);

        if (cancelsCloseRequest) emit CloseRequestCancelled(channelId, descriptor.payer, descriptor.payee);
        emit TopUp(channelId, descriptor.payer, descriptor.payee, additionalDeposit, state.deposit);
    }

    /// Starts the grace period; a second request keeps the first timestamp.
    function requestClose(ChannelDescriptor calldata descriptor) external {
        bytes32 channelId = idOf(descriptor);
        ChannelState memory state = load(channelId);
        if (msg.sender != descriptor.payer) revert NotPayer();
        if (state.closeRequestedAt != 0) return;

        // The node saturates the timestamp into 32 bits.
        state.closeRequestedAt = block.timestamp > type(uint32).max ? type(uint32).max : uint32(block.timestamp);
        channelStates[channelId] = pack(state);
        emit CloseRequested(channelId, descriptor.payer, descriptor.payee, block.timestamp + CLOSE_GRACE_PERIOD);
    }

    /// Pays `captureAmount − settled` to the payee and refunds `deposit − captureAmount`
    /// to the payer. A voucher is needed only when the capture exceeds what is settled;
    /// its `cumulativeAmount` may exceed the deposit, the capture may not.
    function close(
        ChannelDescriptor calldata descriptor,
        uint96 cumulativeAmount,
        uint96 captureAmount,
        bytes calldata signature
    ) external {
        bytes32 channelId = idOf(descriptor);
        ChannelState memory state = load(channelId);
        onlyPayeeOrOperator(descriptor);
        if (captureAmount < state.settled || captureAmount > cumulativeAmount) revert CaptureAmountInvalid();
        if (captureAmount > state.deposit) revert AmountExceedsDeposit();
        if (captureAmount > state.settled) checkVoucher(descriptor, channelId, cumulativeAmount, signature);

        uint96 delta = captureAmount - state.settled;
        uint96 refund = state.deposit - captureAmount;
        delete channelStates[channelId];
        if (delta != 0) pay(descriptor.token, descriptor.payee, delta);
        if (refund != 0) pay(descriptor.token, descriptor.payer, refund);

        emit ChannelClosed(channelId, descriptor.payer, descriptor.payee, captureAmount, refund);
    }

    function withdraw(ChannelDescriptor calldata descriptor) external {
        bytes32 channelId = idOf(descriptor);
        ChannelState memory state = load(channelId);
        if (msg.sender != descriptor.payer) revert NotPayer();
        if (state.closeRequestedAt == 0 || block.timestamp < uint256(state.closeRequestedAt) + CLOSE_GRACE_PERIOD) {
            revert CloseNotReady();
        }

        uint96 refund = state.deposit - state.settled;
        delete channelStates[channelId];
        if (refund != 0) pay(descriptor.token, descriptor.payer, refund);

        emit ChannelClosed(channelId, descriptor.payer, descriptor.payee, state.settled, refund);
    }

    /// The descriptor with its state; all zeros for a missing or closed channel.
    function getChannel(ChannelDescriptor calldata descriptor) external view returns (Channel memory) {
        return Channel({descriptor: descriptor, state: unpack(channelStates[idOf(descriptor)])});
    }

    function getChannelState(bytes32 channelId) external view returns (ChannelState memory) {
        return unpack(channelStates[channelId]);
    }

    function getChannelStatesBatch(bytes32[] calldata channelIds) external view returns (ChannelState[] memory) {
        ChannelState[] memory states = new ChannelState[](channelIds.length);
        for (uint256 i = 0; i < channelIds.length; ++i) {
            states[i] = unpack(channelStates[channelIds[i]]);
        }
        return states;
    }

    function computeChannelId(
        address payer,
        address payee,
        address operator,
        address token,
        bytes32 salt,
        address authorizedSigner,
        bytes32 expiringNonceHash
    ) public view returns (bytes32) {
        return keccak256(
            abi.encode(payer, payee, operator, token, salt, authorizedSigner, expiringNonceHash, RESERVE, block.chainid)
        );
    }

    function getVoucherDigest(bytes32 channelId, uint96 cumulativeAmount) public view returns (bytes32) {
        bytes32 structHash = keccak256(abi.encode(VOUCHER_TYPEHASH, channelId, cumulativeAmount));
        return keccak256(abi.encodePacked(hex"1901", domainSeparator(), structHash));
    }

    function domainSeparator() public view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, RESERVE));
    }

    function storageCredits(address payer) external view returns (uint64 credits) {
        return channelStorageCredits[payer];
    }

    function idOf(ChannelDescriptor calldata d) private view returns (bytes32) {
        return computeChannelId(d.payer, d.payee, d.operator, d.token, d.salt, d.authorizedSigner, d.expiringNonceHash);
    }

    /// An open channel always has a non-zero deposit: that is the existence marker.
    function load(bytes32 channelId) private view returns (ChannelState memory state) {
        state = unpack(channelStates[channelId]);
        if (state.deposit == 0) revert ChannelNotFound();
    }

    function onlyPayeeOrOperator(ChannelDescriptor calldata d) private view {
        if (msg.sender != d.payee && (d.operator == address(0) || msg.sender != d.operator)) revert NotPayeeOrOperator();
    }

    /// Recovers the signer with the TIP-1020 verifier, as the precompile does; any
    /// revert there (bad encoding, high s, keychain wrapper) is InvalidSignature.
    function checkVoucher(
        ChannelDescriptor calldata d,
        bytes32 channelId,
        uint96 cumulativeAmount,
        bytes calldata signature
    ) private view {
        bytes32 digest = getVoucherDigest(channelId, cumulativeAmount);
        (bool ok, bytes memory result) =
            SIGNATURE_VERIFIER.staticcall(abi.encodeWithSignature("recover(bytes32,bytes)", digest, signature));
        if (!ok || result.length != 32) revert InvalidSignature();
        address expected = d.authorizedSigner == address(0) ? d.payer : d.authorizedSigner;
        if (abi.decode(result, (address)) != expected) revert InvalidSignature();
    }

    function pack(ChannelState memory s) private pure returns (uint256) {
        return uint256(s.settled) | (uint256(s.deposit) << DEPOSIT_SHIFT)
            | (uint256(s.closeRequestedAt) << CLOSE_REQUESTED_AT_SHIFT);
    }

    function unpack(uint256 packed) private pure returns (ChannelState memory) {
        return ChannelState({
            settled: uint96(packed),
            deposit: uint96(packed >> DEPOSIT_SHIFT),
            closeRequestedAt: uint32(packed >> CLOSE_REQUESTED_AT_SHIFT)
        });
    }

    function pull(address token, address from, uint96 amount) private {
        (bool ok, bytes memory result) = token.call(
            abi.encodeWithSignature("transferFrom(address,address,uint256)", from, address(this), uint256(amount))
        );
        requireTransferred(ok, result);
    }

    function pay(address token, address to, uint96 amount) private {
        (bool ok, bytes memory result) =
            token.call(abi.encodeWithSignature("transfer(address,uint256)", to, uint256(amount)));
        requireTransferred(ok, result);
    }

    /// Bubbles up the token's revert. TIP-20 reverts rather than returning false, but
    /// anything other than `true` (no code at `token`, no return data) is refused too.
    function requireTransferred(bool ok, bytes memory result) private pure {
        if (!ok) {
            assembly {
                revert(add(result, 32), mload(result))
            }
        }
        if (result.length != 32 || !abi.decode(result, (bool))) revert();
    }
}
