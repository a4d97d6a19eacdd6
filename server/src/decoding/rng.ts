/**
 * A small seeded pseudo-random generator (SplitMix32-style mixing over a 32-bit state).
 * Everything that samples — decoding rules, the forge's toy world, data generation — takes one
 * of these, so that the same seed gives the same output on every machine.
 */
export interface Rng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
  /** An independent generator derived from this one's current state and a label. */
  fork(label: string): Rng;
}

function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export function createRng(seed: number | string): Rng {
  let state = (typeof seed === "string" ? hashString(seed) : seed >>> 0) ^ 0x9e3779b9;
  const nextUint = (): number => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  const rng: Rng = {
    next: () => nextUint() / 4294967296,
    int: (n) => Math.floor((nextUint() / 4294967296) * n),
    pick: (items) => {
      if (items.length === 0) throw new RangeError("pick from an empty array");
      return items[Math.floor((nextUint() / 4294967296) * items.length)]!;
    },
    fork: (label) => createRng((nextUint() ^ hashString(label)) >>> 0),
  };
  return rng;
}
