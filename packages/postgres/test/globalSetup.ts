/**
 * Before the PostgreSQL specs: is a server answering on the test address?
 * Without one they are skipped, said in one line; with CI=true they fail.
 */
import * as Net from "node:net"
import type { TestProject } from "vitest/node"
import { TEST_HOST, TEST_PORT } from "./address.ts"

const answers = () =>
  new Promise<boolean>((resolve) => {
    const socket = Net.connect({ host: TEST_HOST, port: TEST_PORT })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    // Probing a real socket: no answer within a second means no server.
    socket.setTimeout(1_000, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })

export default async function setup(project: TestProject) {
  const available = await answers()
  if (!available) {
    const line = `PostgreSQL: no server on ${TEST_HOST}:${TEST_PORT}; the @session-store/postgres specs are skipped`
    if (process.env["CI"] === "true") throw new Error(`${line.split(";")[0]} and CI=true: failing instead of skipping`)
    console.log(line)
  }
  project.provide("postgresAvailable", available)
}

declare module "vitest" {
  export interface ProvidedContext {
    postgresAvailable: boolean
  }
}
