import fc from 'fast-check'

const codePoint = (min: number, max: number) => fc.integer({ min, max }).map((code) => String.fromCodePoint(code))

/**
 * One piece of text from where tokenizers are weakest or JavaScript differs
 * from Rust: any code point of any plane, lone surrogates (what `JSON.parse`
 * makes of `"\ud800"`), private use, combining marks, rare CJK, Hangul, emoji
 * sequences, the whitespace on which JavaScript's `\s` and Unicode's disagree
 * (U+0085, U+FEFF), contractions and special-token look-alikes.
 */
const unit = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  codePoint(0x20, 0x7e),
  codePoint(0x30, 0x39),
  codePoint(0xd800, 0xdfff),
  codePoint(0xe000, 0xf8ff),
  codePoint(0xf0000, 0x10fffd),
  codePoint(0x0300, 0x036f),
  codePoint(0x4e00, 0x9fff),
  codePoint(0x20000, 0x2a6df),
  codePoint(0xac00, 0xd7a3),
  codePoint(0x1f300, 0x1faff),
  codePoint(0x0600, 0x06ff),
  fc.constantFrom('👍🏽', '👨‍👩‍👧', '🏳️‍🌈', '\u200d', '\ufe0f', 'ſ', 'ǅ', 'ʰ'),
  fc.constantFrom(' ', '  ', '\n', '\r\n', '\t', '\u00a0', '\u3000', '\u2028', '\u0085', '\ufeff'),
  fc.constantFrom("'s", "'LL", "n't", '<|endoftext|>', '<|im_start|>', '<|im_end|>', '<|endofprompt|>'),
)

/** Arbitrary Unicode text: mostly single pieces, sometimes a long run of one. */
export const unicodeText = (maxPieces = 40) =>
  fc
    .array(
      fc.oneof(
        { weight: 8, arbitrary: unit },
        { weight: 1, arbitrary: fc.tuple(unit, fc.integer({ min: 2, max: 300 })).map(([piece, times]) => piece.repeat(times)) },
      ),
      { maxLength: maxPieces },
    )
    .map((pieces) => pieces.join(''))
