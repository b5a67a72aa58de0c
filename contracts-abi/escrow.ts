// The v1 escrow interface the server talks to (ITempoStreamChannel of
// draft-tempo-session-00). Generated from contracts-abi/escrow/StreamChannelEscrow.sol;
// its selectors, events and errors are those of the spec's reference interface.
export { escrowAbi } from './escrow/artifact.js'
