/**
 * The few generators the property specs need, built on `effect/Arbitrary`
 * (what `it.prop` and `it.effect.prop` of @effect/vitest take), named after
 * their fast-check counterparts.
 */
import { Arbitrary, Schema } from "effect"

/** An integer in `[min, max]`. */
export const integer = (min: number, max: number): Arbitrary.Arbitrary<number> =>
  Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: min, maximum: max })))

/** An integer in `[0, max]`. */
export const nat = (max: number): Arbitrary.Arbitrary<number> => integer(0, max)

/** One of `values`; shrinks towards the first. */
export const constantFrom = <const A extends ReadonlyArray<unknown>>(...values: A): Arbitrary.Arbitrary<A[number]> =>
  Arbitrary.map(integer(0, values.length - 1), (i) => values[i])

/** One of the branches, each picked with a probability proportional to its weight; shrinks towards the first. */
export const oneof = <A>(
  ...branches: ReadonlyArray<{ readonly weight: number; readonly arbitrary: Arbitrary.Arbitrary<A> }>
): Arbitrary.Arbitrary<A> => {
  const total = branches.reduce((n, b) => n + b.weight, 0)
  return Arbitrary.flatMap(integer(0, total - 1), (n) => {
    for (const branch of branches) {
      if (n < branch.weight) return branch.arbitrary
      n -= branch.weight
    }
    return branches[branches.length - 1]!.arbitrary
  })
}

/** `undefined` one time in six (fast-check's `fc.option` default), a value of `arbitrary` otherwise. */
export const option = <A>(arbitrary: Arbitrary.Arbitrary<A>): Arbitrary.Arbitrary<A | undefined> =>
  oneof<A | undefined>({ weight: 1, arbitrary: Arbitrary.Constant(undefined) }, { weight: 5, arbitrary })

/** A string of at most `maxLength` units of `unit`. */
export const string = (unit: Arbitrary.Arbitrary<string>, maxLength: number): Arbitrary.Arbitrary<string> =>
  Arbitrary.map(Arbitrary.array(unit, { maxLength }), (units) => units.join(""))

/** An object of at most `maxKeys` keys of `key`, each with a value of `value`. */
export const dictionary = <A>(
  key: Arbitrary.Arbitrary<string>,
  value: Arbitrary.Arbitrary<A>,
  maxKeys: number
): Arbitrary.Arbitrary<Record<string, A>> =>
  Arbitrary.map(Arbitrary.array(Arbitrary.all([key, value]), { maxLength: maxKeys }), (entries) => Object.fromEntries(entries))
