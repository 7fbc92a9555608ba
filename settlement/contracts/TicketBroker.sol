// SPDX-License-Identifier: MIT
// Castnet's ticket broker: senders fund a deposit and a reserve in ETH, recipients redeem winning
// probabilistic micropayment tickets against them. The ticket rules are protocol/ticket.ts's, byte for
// byte (Livepeer's pm format): hash = keccak256(recipient ‖ sender ‖ faceValue ‖ winProb ‖ senderNonce ‖
// recipientRandHash ‖ auxData), auxData = creationBlock ‖ its hash (empty when both are zero), an EIP-191
// signature by the sender, win = keccak256(signature ‖ recipientRand) < winProb. The same reserve rule
// as the embedded ledger (settlement/reserve-rule.ts). Regenerate the committed artifact with
// `npm run build:contracts`; a test holds it to a fresh compile.
pragma solidity 0.8.37;

contract TicketBroker {
    struct Ticket {
        address recipient;
        address sender;
        uint256 faceValue;
        uint256 winProb;
        uint256 senderNonce;
        bytes32 recipientRandHash;
        // auxData: the block the recipient created the ticket's parameters at, and that block's hash.
        // They bind a ticket to this chain and make it expire (Livepeer binds a round and its block hash).
        uint256 creationRound;
        bytes32 creationRoundBlockHash;
    }

    struct Sender {
        uint256 deposit;
        uint256 reserve;
        // Reserve paid out since the sender last withdrew: reserve + reserveClaimed is what was funded.
        uint256 reserveClaimed;
        // 0: locked. Otherwise the block from which the sender may withdraw, and tickets are refused.
        uint256 withdrawBlock;
        // Bumped at each withdrawal, so reserve claims recorded before it do not count against a new reserve.
        uint256 epoch;
    }

    struct Recipient {
        uint256 earned;
        uint256 withdrawn;
    }

    // Why a ticket is refused. 0 is "redeemable"; the text of each is reasonText's.
    enum Refusal {
        None,
        NullParty,
        AlreadyRedeemed,
        RandMismatch,
        BadSignature,
        DidNotWin,
        NoCreationBlock,
        CreationBlockInFuture,
        Expired,
        BlockHashMismatch,
        SenderUnlocked,
        NothingPayable
    }

    /// Blocks between unlock() and the block from which withdraw() pays out; tickets stay redeemable until then.
    uint256 public immutable unlockPeriod;
    /// A ticket is redeemable while block.number - creationBlock <= ticketValidityBlocks (at most 256: the
    /// EVM's blockhash window, inside which the creation block's hash can be checked).
    uint256 public immutable ticketValidityBlocks;
    /// The reserve is split into this many equal allocations, one per recipient (settlement/reserve-rule.ts).
    uint256 public immutable reserveRecipients;

    mapping(address => Sender) public senders;
    mapping(address => Recipient) public recipients;
    mapping(bytes32 => bool) public usedTickets;
    // sender => epoch => recipient => reserve claimed by that recipient in that epoch
    mapping(address => mapping(uint256 => mapping(address => uint256))) private reserveClaimedBy;

    uint256 private constant SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    event DepositFunded(address indexed sender, address indexed funder, uint256 amount);
    event ReserveFunded(address indexed sender, address indexed funder, uint256 amount);
    event WinningTicketRedeemed(bytes32 indexed ticketHash, address indexed sender, address indexed recipient, uint256 faceValue, uint256 paid, uint256 fromReserve);
    event WinningTicketRefused(bytes32 indexed ticketHash, address indexed sender, address indexed recipient, string reason);
    event Unlock(address indexed sender, uint256 withdrawBlock);
    event UnlockCancelled(address indexed sender);
    event Withdrawal(address indexed sender, uint256 deposit, uint256 reserve);
    event EarningsWithdrawn(address indexed recipient, address indexed to, uint256 amount);

    constructor(uint256 _unlockPeriod, uint256 _ticketValidityBlocks, uint256 _reserveRecipients) {
        require(_ticketValidityBlocks > 0 && _ticketValidityBlocks <= 256, "ticket validity must be 1 to 256 blocks");
        require(_reserveRecipients > 0, "the reserve needs at least one recipient");
        unlockPeriod = _unlockPeriod;
        ticketValidityBlocks = _ticketValidityBlocks;
        reserveRecipients = _reserveRecipients;
    }

    // ---- funding -------------------------------------------------------------------------------------

    function fundDeposit() external payable {
        _fund(msg.sender, msg.value, 0);
    }

    function fundReserve() external payable {
        _fund(msg.sender, 0, msg.value);
    }

    function fundDepositAndReserve(uint256 depositAmount, uint256 reserveAmount) external payable {
        require(msg.value == depositAmount + reserveAmount, "msg.value is not deposit + reserve");
        _fund(msg.sender, depositAmount, reserveAmount);
    }

    /// Funds another sender. It does not cancel that sender's unlock: a stranger's wei must not keep
    /// someone's deposit locked.
    function fundDepositAndReserveFor(address sender, uint256 depositAmount, uint256 reserveAmount) external payable {
        require(sender != address(0), "sender is the null address");
        require(msg.value == depositAmount + reserveAmount, "msg.value is not deposit + reserve");
        _fund(sender, depositAmount, reserveAmount);
    }

    function _fund(address sender, uint256 depositAmount, uint256 reserveAmount) private {
        require(depositAmount > 0 || reserveAmount > 0, "nothing to fund");
        Sender storage s = senders[sender];
        if (depositAmount > 0) {
            s.deposit += depositAmount;
            emit DepositFunded(sender, msg.sender, depositAmount);
        }
        if (reserveAmount > 0) {
            s.reserve += reserveAmount;
            emit ReserveFunded(sender, msg.sender, reserveAmount);
        }
        // Funding one's own account means it is in use again (as Livepeer's fundDeposit does).
        if (sender == msg.sender && s.withdrawBlock != 0) {
            s.withdrawBlock = 0;
            emit UnlockCancelled(sender);
        }
    }

    // ---- unlock and withdraw -------------------------------------------------------------------------

    function unlock() external {
        Sender storage s = senders[msg.sender];
        require(s.deposit > 0 || s.reserve > 0, "deposit and reserve are zero");
        require(s.withdrawBlock == 0, "unlock already in progress");
        s.withdrawBlock = block.number + unlockPeriod;
        emit Unlock(msg.sender, s.withdrawBlock);
    }

    function cancelUnlock() external {
        Sender storage s = senders[msg.sender];
        require(s.withdrawBlock != 0, "no unlock in progress");
        s.withdrawBlock = 0;
        emit UnlockCancelled(msg.sender);
    }

    /// Pays the whole deposit and reserve back to the sender once its unlock period is over.
    function withdraw() external {
        Sender storage s = senders[msg.sender];
        uint256 deposit = s.deposit;
        uint256 reserve = s.reserve;
        require(deposit > 0 || reserve > 0, "deposit and reserve are zero");
        require(s.withdrawBlock != 0, "no unlock in progress");
        require(block.number >= s.withdrawBlock, "unlock period is not over");
        s.deposit = 0;
        s.reserve = 0;
        s.reserveClaimed = 0;
        s.withdrawBlock = 0;
        s.epoch += 1;
        emit Withdrawal(msg.sender, deposit, reserve);
        (bool ok, ) = payable(msg.sender).call{value: deposit + reserve}("");
        require(ok, "transfer to the sender failed");
    }

    /// Moves `amount` of the caller's redeemed earnings to `to`.
    function withdrawEarnings(address payable to, uint256 amount) external {
        require(to != address(0), "to is the null address");
        Recipient storage r = recipients[msg.sender];
        require(amount > 0 && amount <= r.earned - r.withdrawn, "amount exceeds the earnings not yet withdrawn");
        r.withdrawn += amount;
        emit EarningsWithdrawn(msg.sender, to, amount);
        (bool ok, ) = to.call{value: amount}("");
        require(ok, "transfer failed");
    }

    // ---- redemption ----------------------------------------------------------------------------------

    /// Redeems one winning ticket, or reverts with the reason it is refused.
    function redeemWinningTicket(Ticket calldata ticket, bytes calldata sig, bytes32 recipientRand) external {
        (, Refusal refusal) = _redeem(ticket, sig, recipientRand);
        if (refusal != Refusal.None) revert(reasonText(refusal));
    }

    /// Redeems each ticket it can; a refused ticket is skipped with a WinningTicketRefused event saying why,
    /// so one bad ticket never costs the others their redemption.
    function redeemWinningTickets(Ticket[] calldata tickets, bytes[] calldata sigs, bytes32[] calldata recipientRands) external {
        require(tickets.length == sigs.length && tickets.length == recipientRands.length, "tickets, signatures and recipientRands differ in length");
        for (uint256 i = 0; i < tickets.length; i++) {
            (bytes32 hash, Refusal refusal) = _redeem(tickets[i], sigs[i], recipientRands[i]);
            if (refusal != Refusal.None) emit WinningTicketRefused(hash, tickets[i].sender, tickets[i].recipient, reasonText(refusal));
        }
    }

    function _redeem(Ticket calldata t, bytes calldata sig, bytes32 recipientRand) private returns (bytes32 hash, Refusal refusal) {
        hash = ticketHash(t);
        refusal = _check(t, hash, sig, recipientRand);
        if (refusal != Refusal.None) return (hash, refusal);
        Sender storage s = senders[t.sender];
        uint256 deposit = s.deposit;
        uint256 fromDeposit = t.faceValue < deposit ? t.faceValue : deposit;
        uint256 fromReserve = 0;
        if (fromDeposit < t.faceValue) {
            uint256 claimable = _claimableReserve(s, t.sender, t.recipient);
            uint256 rest = t.faceValue - fromDeposit;
            fromReserve = rest < claimable ? rest : claimable;
        }
        uint256 paid = fromDeposit + fromReserve;
        // Nothing to pay this recipient: the ticket stays unredeemed, so it can be redeemed after a top-up.
        if (paid == 0) return (hash, Refusal.NothingPayable);
        usedTickets[hash] = true;
        if (fromDeposit > 0) s.deposit = deposit - fromDeposit;
        if (fromReserve > 0) {
            s.reserve -= fromReserve;
            s.reserveClaimed += fromReserve;
            reserveClaimedBy[t.sender][s.epoch][t.recipient] += fromReserve;
        }
        recipients[t.recipient].earned += paid;
        emit WinningTicketRedeemed(hash, t.sender, t.recipient, t.faceValue, paid, fromReserve);
    }

    function _check(Ticket calldata t, bytes32 hash, bytes calldata sig, bytes32 recipientRand) private view returns (Refusal) {
        if (t.recipient == address(0) || t.sender == address(0)) return Refusal.NullParty;
        if (usedTickets[hash]) return Refusal.AlreadyRedeemed;
        if (keccak256(abi.encodePacked(recipientRand)) != t.recipientRandHash) return Refusal.RandMismatch;
        if (signerOf(hash, sig) != t.sender) return Refusal.BadSignature;
        if (!isWinningTicket(sig, recipientRand, t.winProb)) return Refusal.DidNotWin;
        if (t.creationRound == 0 && t.creationRoundBlockHash == bytes32(0)) return Refusal.NoCreationBlock;
        if (t.creationRound >= block.number) return Refusal.CreationBlockInFuture;
        if (block.number - t.creationRound > ticketValidityBlocks) return Refusal.Expired;
        if (blockhash(t.creationRound) != t.creationRoundBlockHash) return Refusal.BlockHashMismatch;
        uint256 withdrawBlock = senders[t.sender].withdrawBlock;
        if (withdrawBlock != 0 && block.number >= withdrawBlock) return Refusal.SenderUnlocked;
        return Refusal.None;
    }

    // ---- the rules, readable by anyone ---------------------------------------------------------------

    function ticketHash(Ticket calldata t) public pure returns (bytes32) {
        // auxData is empty when the creation block and its hash are both zero, as in protocol/ticket.ts.
        if (t.creationRound == 0 && t.creationRoundBlockHash == bytes32(0)) {
            return keccak256(abi.encodePacked(t.recipient, t.sender, t.faceValue, t.winProb, t.senderNonce, t.recipientRandHash));
        }
        return keccak256(abi.encodePacked(t.recipient, t.sender, t.faceValue, t.winProb, t.senderNonce, t.recipientRandHash, t.creationRound, t.creationRoundBlockHash));
    }

    /// The EIP-191 signer of a ticket hash; the null address for a malformed or high-s (malleable) signature.
    /// v may be 27/28 or 0/1, as protocol/ticket.ts reads it.
    function signerOf(bytes32 hash, bytes calldata sig) public pure returns (address) {
        if (sig.length != 65) return address(0);
        bytes32 r = bytes32(sig[0:32]);
        bytes32 s = bytes32(sig[32:64]);
        uint8 v = uint8(sig[64]);
        if (v < 27) v += 27;
        if (v != 27 && v != 28) return address(0);
        if (uint256(s) == 0 || uint256(s) > SECP256K1_HALF_N) return address(0);
        return ecrecover(keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", hash)), v, r, s);
    }

    function isWinningTicket(bytes calldata sig, bytes32 recipientRand, uint256 winProb) public pure returns (bool) {
        return uint256(keccak256(abi.encodePacked(sig, recipientRand))) < winProb;
    }

    /// What `recipient` may still be paid from `sender`'s reserve (settlement/reserve-rule.ts).
    function claimableReserve(address sender, address recipient) external view returns (uint256) {
        return _claimableReserve(senders[sender], sender, recipient);
    }

    /// The most a winning ticket from `sender` pays `recipient` now: deposit + its reserve allocation,
    /// zero once the sender's unlock period is over.
    function payableTo(address sender, address recipient) external view returns (uint256) {
        Sender storage s = senders[sender];
        if (s.withdrawBlock != 0 && block.number >= s.withdrawBlock) return 0;
        return s.deposit + _claimableReserve(s, sender, recipient);
    }

    function _claimableReserve(Sender storage s, address sender, address recipient) private view returns (uint256) {
        uint256 reserve = s.reserve;
        if (reserve == 0) return 0;
        uint256 allocation = (reserve + s.reserveClaimed) / reserveRecipients;
        uint256 claimed = reserveClaimedBy[sender][s.epoch][recipient];
        if (claimed >= allocation) return 0;
        uint256 left = allocation - claimed;
        return left < reserve ? left : reserve;
    }

    function reasonText(Refusal refusal) public pure returns (string memory) {
        if (refusal == Refusal.NullParty) return "ticket recipient or sender is the null address";
        if (refusal == Refusal.AlreadyRedeemed) return "ticket already redeemed";
        if (refusal == Refusal.RandMismatch) return "recipientRand does not match recipientRandHash";
        if (refusal == Refusal.BadSignature) return "signature is not the sender's";
        if (refusal == Refusal.DidNotWin) return "ticket did not win";
        if (refusal == Refusal.NoCreationBlock) return "ticket has no creation block";
        if (refusal == Refusal.CreationBlockInFuture) return "ticket creation block is not in the past";
        if (refusal == Refusal.Expired) return "ticket expired";
        if (refusal == Refusal.BlockHashMismatch) return "ticket creation block hash does not match the chain";
        if (refusal == Refusal.SenderUnlocked) return "sender is unlocked";
        if (refusal == Refusal.NothingPayable) return "sender cannot pay this recipient: deposit empty and reserve allocation claimed";
        return "";
    }
}
