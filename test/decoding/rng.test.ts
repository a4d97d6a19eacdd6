// The seeded generator every sampler takes: the same seed gives the same numbers on every machine,
// so its first outputs are pinned here (a change to the mixing would change every sampled result).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRng } from "../../server/src/decoding/index.ts";

const draws = (seed: number | string, n: number): number[] => {
  const rng = createRng(seed);
  return Array.from({ length: n }, () => rng.next());
};

void describe("createRng", () => {
  void it("gives the pinned sequence for a numeric seed", () => {
    assert.deepEqual(draws(0, 3), [0.23765396769158542, 0.10578142385929823, 0.2969988433178514]);
  });

  void it("hashes a string seed, the empty string included", () => {
    assert.deepEqual(draws("aad", 2), [0.84060760284774, 0.12638102285563946]);
    assert.deepEqual(draws("", 1), [0.020992863457649946]);
    assert.notDeepEqual(draws("aad", 2), draws("aae", 2));
  });

  void it("takes a seed modulo 2^32", () => {
    assert.deepEqual(draws(-1, 4), draws(2 ** 32 - 1, 4));
    assert.deepEqual(draws(-1, 1), [0.5075902475509793]);
  });

  void it("draws floats in [0, 1) and integers in [0, n), reaching every integer", () => {
    const rng = createRng(3);
    const seen = new Set<number>();
    for (let i = 0; i < 600; i++) {
      const x = rng.next();
      assert.ok(x >= 0 && x < 1);
      const k = rng.int(3);
      assert.ok(Number.isInteger(k) && k >= 0 && k < 3);
      seen.add(k);
    }
    assert.deepEqual([...seen].sort(), [0, 1, 2]);
  });

  void it("gives the pinned integers and picks", () => {
    const rng = createRng(42);
    assert.deepEqual([rng.int(10), rng.int(10), rng.int(1000), rng.pick(["x", "y", "z"])], [6, 3, 404, "z"]);
  });

  void it("picks every element of an array, and refuses an empty one", () => {
    const rng = createRng(5);
    const seen = new Set(Array.from({ length: 300 }, () => rng.pick(["a", "b", "c"])));
    assert.deepEqual([...seen].sort(), ["a", "b", "c"]);
    assert.throws(() => rng.pick([]), (error: unknown) => error instanceof RangeError && error.message === "pick from an empty array");
  });

  void it("forks a pinned, label-dependent generator that takes one draw from its parent", () => {
    const parent = createRng(7);
    const child = parent.fork("row");
    assert.deepEqual([child.next(), parent.next()], [0.08067860640585423, 0.823620228562504]);
    assert.equal(draws(7, 2)[1], 0.823620228562504);
    assert.notEqual(createRng(7).fork("row").next(), createRng(7).fork("col").next());
  });
});
