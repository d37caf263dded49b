/**
 * Exits compared by what they carry. `Effect.fn` spans annotate a failure's
 * reason (the span, the call site), so two exits with the same error are not
 * structurally equal; these compare the kind of each reason and its value.
 */
import { expect } from "@effect/vitest"
import { Cause, type Exit } from "effect"

const reasonsOf = (exit: Exit.Exit<unknown, unknown>) => {
  expect(exit._tag, "the effect was expected to fail").toBe("Failure")
  return exit._tag === "Failure" ? exit.cause.reasons : []
}

/** `exit` failed with exactly one typed error, and it matches `expected`. */
export const expectFail = (exit: Exit.Exit<unknown, unknown>, expected: unknown): void => {
  const reasons = reasonsOf(exit)
  expect(reasons.map((reason) => reason._tag)).toStrictEqual(["Fail"])
  expect(Cause.isFailReason(reasons[0]!) ? reasons[0].error : undefined).toStrictEqual(expected)
}

/** `exit` died with exactly one defect, and it matches `expected`. */
export const expectDie = (exit: Exit.Exit<unknown, unknown>, expected: unknown): void => {
  const reasons = reasonsOf(exit)
  expect(reasons.map((reason) => reason._tag)).toStrictEqual(["Die"])
  expect(Cause.isDieReason(reasons[0]!) ? reasons[0].defect : undefined).toStrictEqual(expected)
}
