// Public recovery vectors: a digest, a 65-byte r‖s‖v signature, and the signer's address.
import type { Address, Hex } from 'viem'

export type RecoveryVector = { readonly source: string; readonly digest: Hex; readonly signature: Hex; readonly address: Address }

export const publicVectors: readonly RecoveryVector[] = [
  {
    // EIP-155, "Example": the signing hash of the example transaction, signed with the private key 0x4646…46
    // (r = 18515461264373351373200002665853028612451056578545711640558177340181847433846,
    // s = 46948507304638947509940763649030358759909902576025900602547168820602576006531, v = 37: y-parity 0).
    source: 'EIP-155 example transaction',
    digest: '0xdaf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53',
    signature:
      '0x28ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa63627667cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d831b',
    address: '0x9d8a62f656a8d1615c1294fd71e9cfb3e4855a4f',
  },
  {
    // EIP-712, the `Mail` example (assets/eip-712/Example.js): the typed-data hash signed by "Cow", key keccak256("cow").
    source: 'EIP-712 Mail example',
    digest: '0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2',
    signature:
      '0x4355c47d63924e8a72e509b65029052eb6c299d53a04e167c5775fd466751c9d07299936d304c153f6443dfa05f40ff007d72911b6f72307f996231605b915621c',
    address: '0xcd2a3d9f938e13cd947ec05abc7fe734df8dd826',
  },
]
