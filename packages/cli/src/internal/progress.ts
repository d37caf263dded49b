/**
 * One progress line on stderr. On a terminal it is rewritten in place (at most
 * a few times a second); elsewhere (CI logs, pipes) a line is printed every
 * tenth of the way, so logs stay readable.
 */
export interface Progress {
  /** Reports `done` of `total`; `detail` follows the count. Cheap to call on every step. */
  readonly update: (done: number, detail: () => string) => void
  /** Prints the final state and ends the line. */
  readonly finish: (detail: string) => void
}

export const makeProgress = (
  label: string,
  total: number,
  stream: NodeJS.WriteStream = process.stderr
): Progress => {
  const tty = stream.isTTY === true
  let lastDraw = 0
  let lastTenth = -1
  const line = (done: number, detail: string) =>
    `${label} ${done.toLocaleString("en-US")}/${total.toLocaleString("en-US")} ops ${
      total > 0 ? ((100 * done) / total).toFixed(0).padStart(3) : "100"
    }%  ${detail}`
  // A line wider than the terminal wraps, and \r would then rewrite only its last row.
  const fit = (text: string) => text.slice(0, Math.max(20, (stream.columns ?? 120) - 1))
  return {
    update: (done, detail) => {
      if (tty) {
        const now = performance.now()
        if (now - lastDraw < 200) return
        lastDraw = now
        stream.write(`\r\x1b[2K${fit(line(done, detail()))}`)
      } else {
        const tenth = total > 0 ? Math.floor((10 * done) / total) : 10
        if (tenth === lastTenth) return
        lastTenth = tenth
        stream.write(`${line(done, detail())}\n`)
      }
    },
    finish: (detail) => {
      if (tty) stream.write(`\r\x1b[2K${fit(line(total, detail))}\n`)
      else if (lastTenth !== 10) stream.write(`${line(total, detail)}\n`)
    }
  }
}
