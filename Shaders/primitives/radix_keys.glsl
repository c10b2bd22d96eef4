// Key access shared by the radix sort kernels. KEY_WORDS (SPEC_VARIANT) is 1
// for 32-bit keys and 2 for 64-bit keys stored as (low, high) u32 pairs, so
// no kernel needs 64-bit integer support.
#ifndef SPLAT_RADIX_KEYS_GLSL
#define SPLAT_RADIX_KEYS_GLSL

// The digit of the key whose words are (low, high) for a pass at `shift`.
// Digits never straddle the 32-bit boundary: shifts are multiples of RADIX_BITS.
uint radixDigit(uint low, uint high, uint shift, uint mask) {
    return ((shift < 32u ? (low >> shift) : (high >> (shift - 32u)))) & mask;
}

// Which u32 word of a key holds the digit at `shift`, and that word's shift.
uint radixWord(uint shift) { return shift >> 5; }
uint radixWordDigit(uint word, uint shift, uint mask) { return (word >> (shift & 31u)) & mask; }

#endif
