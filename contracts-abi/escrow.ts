// The v1 escrow interface the server talks to: the ABI of the TempoStreamChannel
// deployed on Tempo networks (mppx's legacy escrowAbi), not the spec's informative
// ITempoStreamChannel (whose struct order and topUp type differ). Generated from
// contracts-abi/escrow/StreamChannelEscrow.sol; test/escrow/abi.test.ts holds it
// equal to the deployed one item by item.
export { escrowAbi } from './escrow/artifact.js'
