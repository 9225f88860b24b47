/**
 * Byte-level tokenizer: a token is one byte of the UTF-8 encoding, so the vocabulary is exactly 256 and any
 * text round-trips. No merges, no special tokens.
 */

/** Number of distinct tokens (one per byte value). */
export const VOCAB_SIZE = 256;

const encoder = new TextEncoder();
// ignoreBOM: keep a leading U+FEFF as text, so decode(encode(s)) === s for every string s.
const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** UTF-8 bytes of U+FFFD, written in place of token ids outside [0, 256). */
const REPLACEMENT_BYTES = [0xef, 0xbf, 0xbd];

/** Encodes text as its UTF-8 bytes; `encode(s)[i]` is token i. Cost: O(bytes). */
export function encode(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * Decodes tokens as UTF-8. Never throws: invalid byte sequences (e.g. a multibyte character cut in half by
 * sampling) and ids outside [0, 256) (e.g. from a model whose vocabulary is padded) become U+FFFD.
 */
export function decode(tokens: ArrayLike<number>): string {
  if (tokens instanceof Uint8Array) return decoder.decode(tokens);
  const bytes: number[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (Number.isInteger(t) && t >= 0 && t < VOCAB_SIZE) bytes.push(t);
    else bytes.push(...REPLACEMENT_BYTES);
  }
  return decoder.decode(new Uint8Array(bytes));
}
